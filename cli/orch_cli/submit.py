"""`orch submit`: send a workflow to the orchestrator's API and, with --wait, follow it node by node.

Progress comes from the API's live websocket (`/api/live`); the final state and outputs from
`GET /api/jobs/{id}`, which is the durable truth, so a dropped socket never loses the result.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

__all__ = ["ImageInput", "SubmitError", "submit_workflow", "wait_for_job"]

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


class SubmitError(RuntimeError):
    """The workflow could not be submitted or followed; the message says why."""


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise SubmitError(f"cannot read {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise SubmitError(f"{path} is not JSON: {exc}") from exc


@dataclass(frozen=True)
class ImageInput:
    """`--image NODE=FILE`: upload FILE and make it node NODE's image (a LoadImage-like node)."""

    node_id: str
    path: Path

    @classmethod
    def parse(cls, text: str) -> ImageInput:
        node_id, eq, file = text.partition("=")
        if not eq or not node_id.strip() or not file:
            raise SubmitError(f"--image {text!r}: expected NODE=FILE, e.g. --image 10=photo.png")
        path = Path(file).expanduser()
        if not path.is_file():
            raise SubmitError(f"--image {text!r}: no such file {path}")
        return cls(node_id.strip(), path)


def _image_slot(workflow: Any, node_id: str) -> Callable[[str], None]:
    """What sets node `node_id`'s image file, in either workflow format; raises if the node takes none."""
    if isinstance(workflow, dict) and isinstance(workflow.get("nodes"), list):  # UI format: the first widget value
        for node in workflow["nodes"]:
            if isinstance(node, dict) and str(node.get("id")) == node_id:
                widgets = node.get("widgets_values")
                if not isinstance(widgets, list) or not widgets or not isinstance(widgets[0], str):
                    raise SubmitError(f"--image: node {node_id} ({node.get('type')}) takes no image file")
                return lambda name: widgets.__setitem__(0, name)
    elif isinstance(workflow, dict) and isinstance(workflow.get(node_id), dict):
        node = workflow[node_id]
        inputs = node.get("inputs")
        if not isinstance(inputs, dict) or not isinstance(inputs.get("image"), str):
            raise SubmitError(f"--image: node {node_id} ({node.get('class_type')}) has no image input")
        return lambda name: inputs.__setitem__("image", name)
    raise SubmitError(f"--image: the workflow has no node {node_id}")


async def _upload_images(http: httpx.AsyncClient, images: list[ImageInput], backend: str | None) -> dict[str, str]:
    """Upload each image to every server the job may run on (the pinned one, else all online), under a name made
    from its content, so a retry on another server finds it too; node id → the name to put in the workflow."""
    if backend:
        targets = [backend]
    else:
        backends = (await http.get("/api/backends")).json()
        targets = [b["id"] for b in backends if b.get("status") in ("online", "busy")]
        if not targets:
            raise SubmitError("no backend is online to upload the --image files to")
    names: dict[str, str] = {}
    for image in images:
        data = image.path.read_bytes()
        name = f"orch_{hashlib.sha256(data).hexdigest()[:16]}{image.path.suffix.lower()}"
        for target in targets:
            response = await http.post(
                f"/backends/{target}/comfy/api/upload/image",
                files={"image": (name, data, "application/octet-stream")},
                data={"overwrite": "true"},
            )
            if response.status_code != 200:
                raise SubmitError(
                    f"uploading {image.path} to {target} failed ({response.status_code}): {response.text[:300]}"
                )
            reply = response.json()
            names[image.node_id] = f"{reply['subfolder']}/{reply['name']}" if reply.get("subfolder") else reply["name"]
    return names


async def submit_workflow(api: str, path: Path, backend: str | None, images: list[ImageInput] | None = None) -> str:
    """POST the workflow (after uploading `images` and pointing their nodes at them); returns the job id. A 4xx is
    raised with the API's own explanation."""
    workflow = _load(path)
    slots = {image.node_id: _image_slot(workflow, image.node_id) for image in images or ()}  # checked before uploads
    body: dict[str, Any] = {"workflow": workflow}
    if backend:
        body["backend"] = backend
    async with httpx.AsyncClient(base_url=api, timeout=60) as http:
        try:
            for node_id, name in (await _upload_images(http, images, backend) if images else {}).items():
                slots[node_id](name)
            response = await http.post("/api/jobs", json=body)
        except httpx.HTTPError as exc:
            raise SubmitError(f"cannot reach the orchestrator at {api}: {exc}") from exc
    if response.status_code != 202:
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = response.text
        raise SubmitError(f"rejected ({response.status_code}): {detail}")
    return str(response.json()["id"])


@dataclass
class _Bars:
    progress: Progress
    tasks: dict[str, TaskID] = field(default_factory=dict)

    def update(self, node: str, value: float, total: float) -> None:
        if node not in self.tasks:
            self.tasks[node] = self.progress.add_task(f"node {node}", total=max(total, 1))
        self.progress.update(self.tasks[node], completed=value, total=max(total, 1))

    def finish(self) -> None:
        """Progress is coalesced on the way here, so the last ticks may be skipped: a success fills every bar."""
        for task_id in self.tasks.values():
            task = self.progress.tasks[task_id]
            self.progress.update(task_id, completed=task.total)


async def wait_for_job(api: str, job_id: str, console: Console) -> dict[str, Any]:
    """Show a live progress bar per node until the job ends; returns the final job view."""
    ws_url = api.replace("http://", "ws://").replace("https://", "wss://").rstrip("/") + "/api/live"
    columns = (TextColumn("{task.description:<16}"), BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f}"))
    async with httpx.AsyncClient(base_url=api, timeout=30) as http:

        async def current() -> dict[str, Any]:
            response = await http.get(f"/api/jobs/{job_id}")
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

        async def settled(timeout: float = 30.0) -> dict[str, Any]:
            """The job view once it is terminal: the live stream can be a moment ahead of the scheduler's view."""
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                job = await current()
                if job["state"] in TERMINAL or asyncio.get_running_loop().time() > deadline:
                    return job
                await asyncio.sleep(0.1)

        with Progress(*columns, TimeElapsedColumn(), console=console, transient=False) as progress:
            bars = _Bars(progress)
            state = ""
            while True:
                try:
                    async with websockets.connect(ws_url, max_size=None, proxy=None) as ws:
                        job = await current()  # after subscribing, so no transition is missed
                        if job["state"] in TERMINAL:
                            return job
                        async for raw in ws:
                            message = json.loads(raw)
                            kind = message.get("type")
                            if kind == "progress" and message.get("job_id") == job_id:
                                node = str(message.get("node_id") or "?")
                                bars.update(node, float(message.get("value", 0)), float(message.get("max", 1)))
                            elif kind == "job" and message.get("job", {}).get("id") == job_id:
                                new_state = message["job"].get("state", "")
                                if new_state != state:
                                    state = new_state
                                    backend = message["job"].get("backend") or ""
                                    progress.console.print(f"[bold]{job_id}[/]: {state} {backend}")
                                if state in TERMINAL:
                                    job = await settled()
                                    if job["state"] == "succeeded":
                                        bars.finish()
                                    return job
                except (OSError, websockets.WebSocketException):
                    job = await current()
                    if job["state"] in TERMINAL:
                        return job
                    await asyncio.sleep(1.0)
