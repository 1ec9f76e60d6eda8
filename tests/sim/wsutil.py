"""A websocket listener for sim tests and the comparison of live messages with recorded ones."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from orch_common.comfy.binary import PreviewImage, PreviewImageWithMetadata, decode_frame
from tests.helpers import FIXTURES

TEMP_NAME = re.compile(r"^ComfyUI_temp_[a-z]{5}_(\d{5})_\.png$")


async def http(base_url: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request with an async client (tests run inside an event loop)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        return await client.request(method, path, **kwargs)


def recorded(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def recorded_request(name: str) -> dict[str, Any]:
    """A copy of the JSON body a recorded POST sent (`prompt_json_response_*.json`)."""
    body: dict[str, Any] = json.loads(json.dumps(recorded(name)["request"]["json"]))
    return body


async def set_faults(base_url: str, **faults: Any) -> None:
    response = await http(base_url, "POST", "/sim/faults", json=faults)
    assert response.status_code == 200, response.text


async def submit(base_url: str, body: dict[str, Any]) -> str:
    """POST /prompt expecting acceptance; the prompt id."""
    response = await http(base_url, "POST", "/prompt", json=body)
    assert response.status_code == 200, response.text
    prompt_id: str = response.json()["prompt_id"]
    return prompt_id


def executing(node: str) -> Callable[[dict[str, Any]], bool]:
    """Predicate: the `executing` message of `node`."""
    return lambda m: m.get("type") == "executing" and m["data"].get("node") == node


def recorded_trace(run: str) -> list[dict[str, Any]]:
    lines = (FIXTURES / f"ws_trace_{run}.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def workflow(run: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "workflows" / f"api_{run}.json").read_text())
    return data


def _decode_binary(raw: bytes) -> dict[str, Any]:
    frame = decode_frame(raw)
    message: dict[str, Any] = {"binary": True, "len": len(raw), "event_type": int.from_bytes(raw[:4], "big")}
    if isinstance(frame, PreviewImage):
        message["image_format"] = int(frame.format)
        message["image_magic_hex"] = frame.data[:8].hex()
    elif isinstance(frame, PreviewImageWithMetadata):
        message["metadata"] = frame.metadata.model_dump()
        message["image_magic_hex"] = frame.data[:8].hex()
    message["data"] = frame.data if isinstance(frame, PreviewImage | PreviewImageWithMetadata) else b""
    return message


class Listener:
    """Connects to `/ws`, optionally does the feature-flags handshake, and records every message."""

    def __init__(self, ws_url: str, client_id: str | None = None, headers: dict[str, str] | None = None) -> None:
        self.url = ws_url if client_id is None else f"{ws_url}?clientId={client_id}"
        self.headers = headers
        self.messages: list[dict[str, Any]] = []
        self.socket: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self.closed = False

    async def __aenter__(self) -> Listener:
        self.socket = await connect(self.url, max_size=None, additional_headers=self.headers)
        self._task = asyncio.get_running_loop().create_task(self._read())
        await self.wait_for(lambda m: m.get("type") == "status")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.socket is not None and self._task is not None
        await self.socket.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _read(self) -> None:
        assert self.socket is not None
        try:
            async for raw in self.socket:
                self.messages.append(_decode_binary(raw) if isinstance(raw, bytes) else json.loads(raw))
                self._changed.set()
        except Exception:
            pass
        self.closed = True
        self._changed.set()

    async def send(self, message: dict[str, Any]) -> None:
        assert self.socket is not None
        await self.socket.send(json.dumps(message))

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30.0,
                       start: int = 0) -> dict[str, Any]:
        """The first message (from index `start`) matching `predicate`, waiting for it if needed."""
        async def scan() -> dict[str, Any]:
            index = start
            while True:
                while index < len(self.messages):
                    if predicate(self.messages[index]):
                        return self.messages[index]
                    index += 1
                if self.closed:
                    raise ConnectionError("socket closed before the awaited message arrived")
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(scan(), timeout)

    async def wait_closed(self, timeout: float = 30.0) -> None:
        async def scan() -> None:
            while not self.closed:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(scan(), timeout)

    async def wait_count(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        async def scan() -> None:
            while len(self.messages) < count:
                if self.closed:
                    raise ConnectionError(f"socket closed after {len(self.messages)} of {count} messages")
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(scan(), timeout)
        return self.messages[:count]

    async def wait_done(self, prompt_id: str, timeout: float = 30.0) -> dict[str, Any]:
        return await self.wait_for(lambda m: m.get("type") == "executing"
                                   and m["data"].get("node") is None and m["data"].get("prompt_id") == prompt_id,
                                   timeout)


def _outputs(output: Any) -> Any:
    if not isinstance(output, dict):
        return output
    normalized = dict(output)
    if "images" in normalized:
        normalized["images"] = [
            {**image, "filename": TEMP_NAME.sub(r"ComfyUI_temp_*_\1_.png", image["filename"])}
            for image in normalized["images"]
        ]
    return normalized


def signature(message: dict[str, Any]) -> tuple[Any, ...]:
    """What must agree between a live and a recorded message (ids and timestamps left out)."""
    if message.get("binary"):
        # The length too: the sim's frames are byte-for-byte as long as the recorded ones.
        if message.get("event_type") == 4:
            meta = message["metadata"]
            return ("binary", 4, message["len"], meta["node_id"], meta["image_type"], meta["display_node_id"])
        return ("binary", message.get("event_type"), message["len"], message.get("image_format"))
    kind = message["type"]
    data = message["data"]
    if kind == "status":
        return (kind, data["status"]["exec_info"]["queue_remaining"], "sid" in data)
    if kind == "progress_state":
        return (kind, tuple((node, float(e["value"]), float(e["max"]), e["state"], e["display_node_id"],
                             e["parent_node_id"], e["real_node_id"]) for node, e in data["nodes"].items()))
    if kind == "executing":
        return (kind, data["node"], data.get("display_node"), "prompt_id" in data)
    if kind == "executed":
        return (kind, data["node"], data["display_node"], json.dumps(_outputs(data["output"]), sort_keys=True))
    if kind == "progress":
        return (kind, data["value"], data["max"], data["node"])
    if kind == "execution_cached":
        return (kind, tuple(data["nodes"]))
    if kind == "execution_error":
        return (kind, data["node_id"], data["node_type"], tuple(sorted(data["executed"])), data["exception_type"],
                data["exception_message"], tuple(sorted(data["current_outputs"])),
                tuple(sorted(data["current_inputs"])))
    if kind == "execution_interrupted":
        return (kind, data["node_id"], data["node_type"], tuple(sorted(data["executed"])))
    if kind == "feature_flags":
        return (kind, json.dumps(data, sort_keys=True))
    if kind == "logs":
        return (kind, tuple(entry["m"].split(" in ")[0] for entry in data["entries"]), data["size"] is None)
    return (kind, tuple(sorted(data)))


def signatures(messages: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [signature(message) for message in messages]


def fixture_path(name: str) -> Path:
    return FIXTURES / name
