"""`orch submit`: send a workflow to the orchestrator's API and, with --wait, follow it node by node.

Progress comes from the API's live websocket (`/api/live`); the final state and outputs from
`GET /api/jobs/{id}`, which is the durable truth, so a dropped socket never loses the result.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

__all__ = ["SubmitError", "submit_workflow", "wait_for_job"]

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


async def submit_workflow(api: str, path: Path, backend: str | None) -> str:
    """POST the workflow; returns the job id. A 4xx is raised with the API's own explanation."""
    workflow = _load(path)
    body: dict[str, Any] = {"workflow": workflow}
    if backend:
        body["backend"] = backend
    async with httpx.AsyncClient(base_url=api, timeout=60) as http:
        try:
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
