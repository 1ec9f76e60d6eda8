"""`orch diagnose URL`: check that a ComfyUI server is fit to join the fleet, one step at a time.

Each check reports what it found; a failed check says what went wrong and the later checks still run where
they can. The image round trip uploads a small generated PNG and reads it back through /view, byte for byte.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from orch_common.comfy.client import ComfyClient
from orch_common.comfy.errors import ComfyError
from orch_common.comfy.wire import StatusMessage

__all__ = ["Check", "diagnose"]


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    seconds: float


def _probe_png() -> tuple[bytes, str]:
    """A small PNG whose pixels depend on the current time, so a stale copy on the server cannot pass."""
    from PIL import Image

    seed = time.time_ns().to_bytes(8, "big")
    img = Image.new("RGB", (32, 24), tuple(seed[:3]))
    img.putpixel((0, 0), tuple(seed[3:6]))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    data = buf.getvalue()
    return data, f"orch-diagnose-{hashlib.sha256(data).hexdigest()[:12]}.png"


async def diagnose(url: str, timeout: float = 10.0) -> list[Check]:
    """Run every check against the ComfyUI server at `url`."""
    checks: list[Check] = []

    async def run(name: str, step: Callable[[], Awaitable[str]]) -> bool:
        started = time.perf_counter()
        try:
            detail = await step()
            ok = True
        except (ComfyError, ValueError, OSError, TimeoutError) as exc:
            detail, ok = f"{type(exc).__name__}: {exc}", False
        checks.append(Check(name, ok, detail, time.perf_counter() - started))
        return ok

    async with ComfyClient(url, timeout=timeout) as client:

        async def reachable() -> str:
            stats = await client.system_stats()
            devices = ", ".join(f"{d.name} ({d.type}, {(d.vram_total or 0) / 1024**3:.1f} GiB)" for d in stats.devices)
            return f"ComfyUI {stats.system.comfyui_version or '?'}, Python {stats.system.python_version}; {devices}"

        if not await run("reachable, version", reachable):
            return checks

        async def queue() -> str:
            q = await client.queue()
            return f"{len(q.queue_running)} running, {len(q.queue_pending)} pending"

        async def history() -> str:
            entries = await client.history(max_items=5)
            return f"{len(entries)} recent entries readable"

        async def object_info() -> str:
            info = await client.object_info()
            return f"{len(info)} node classes, sha256 {client.object_info_hash()[:12]}"

        async def round_trip() -> str:
            data, name = _probe_png()
            uploaded = await client.upload_image(data, name, overwrite=True)
            back = await client.view(uploaded.name, subfolder=uploaded.subfolder, type="input")
            if back.content != data:
                raise ValueError(f"/view returned {len(back.content)} bytes that differ from the {len(data)} uploaded")
            return f"uploaded {uploaded.name} ({len(data)} bytes) and read it back identical"

        async def websocket() -> str:
            async def first_status() -> str:
                async for message in client.messages():
                    if isinstance(message, StatusMessage):
                        return f"status received, queue_remaining {message.data.status.exec_info.queue_remaining}"
                raise ValueError("the socket closed before any status message")

            return await asyncio.wait_for(first_status(), timeout)

        await run("queue", queue)
        await run("history", history)
        await run("object_info", object_info)
        await run("image upload + /view round trip", round_trip)
        await run("websocket", websocket)
    return checks
