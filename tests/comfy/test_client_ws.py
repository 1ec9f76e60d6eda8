"""ComfyClient.messages() against a real websocket server that replays a recorded trace."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from websockets.asyncio.server import ServerConnection, serve

from orch_common.comfy.binary import (
    ImageFormat,
    PreviewImage,
    PreviewImageWithMetadata,
    PreviewMetadata,
    encode_preview_image,
    encode_preview_with_metadata,
)
from orch_common.comfy.client import ComfyClient
from orch_common.comfy.errors import ComfyConnectionError, ComfyOriginRejected
from orch_common.comfy.wire import ExecutingMessage, FeatureFlagsMessage, StatusMessage

from ._fixtures import FIXTURES, ws_trace

PNG = (FIXTURES / "upload_source.png").read_bytes()


def wire_frames(trace: str) -> list[str | bytes]:
    """The trace's frames as a server sends them; binary ones rebuilt from their recorded header."""
    frames: list[str | bytes] = []
    for raw in ws_trace(trace):
        if not raw.get("binary"):
            frames.append(json.dumps(raw))
        elif raw["event_type"] == 1:
            frames.append(encode_preview_image(ImageFormat(raw["image_format"]), PNG))
        else:
            frames.append(encode_preview_with_metadata(PreviewMetadata.model_validate(raw["metadata"]), PNG))
    return frames


@asynccontextmanager
async def replaying(
    frames: list[str | bytes],
    *,
    received: list[str] | None = None,
    close_abruptly: bool = False,
    process_request: Callable | None = None,
) -> AsyncIterator[str]:
    async def handler(ws: ServerConnection) -> None:
        if received is not None:
            received.append(ws.request.path)
            received.append(await ws.recv())
        for frame in frames:
            await ws.send(frame)
        await ws.close(code=1011 if close_abruptly else 1000)

    async with serve(handler, "127.0.0.1", 0, process_request=process_request) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"


async def collect(comfy: ComfyClient, **kwargs) -> list:
    return [item async for item in comfy.messages(**kwargs)]


async def test_the_socket_sends_the_feature_flags_first_under_our_client_id():
    received: list[str] = []
    frames = wire_frames("ws_trace_progress_ws_images_metadata.jsonl")
    async with replaying(frames, received=received) as url, ComfyClient(url, client_id="agent 7") as comfy:
        items = await collect(comfy)
    assert received[0] == "/ws?clientId=agent%207"
    assert json.loads(received[1]) == {"type": "feature_flags", "data": {"supports_preview_metadata": True}}
    assert isinstance(items[0], StatusMessage) and isinstance(items[1], FeatureFlagsMessage)
    previews = [i for i in items if isinstance(i, PreviewImageWithMetadata)]
    assert len(previews) == 4 and all(p.metadata.node_id == "3" and p.data == PNG for p in previews)
    assert isinstance(items[-1], ExecutingMessage) and items[-1].data.node is None


async def test_without_feature_flags_nothing_is_sent_and_type_one_previews_decode():
    received: list[str] = []
    frames = wire_frames("ws_trace_progress_ws_images.jsonl")

    async with replaying(frames) as url, ComfyClient(url) as comfy:
        items = await collect(comfy, feature_flags=None)
    assert not received
    previews = [i for i in items if isinstance(i, PreviewImage)]
    assert len(previews) == 4 and previews[0].format is ImageFormat.PNG
    assert len(items) == len(frames)


async def test_unknown_messages_and_frames_are_skipped():
    frames = [
        json.dumps({"type": "crystools.monitor", "data": {}}),
        b"\0\0\0\x09junk",
        b"\0\0",
        "not json",
        json.dumps({"type": "executing", "data": {"node": None, "prompt_id": "p"}}),
    ]
    async with replaying(frames) as url, ComfyClient(url) as comfy:
        items = await collect(comfy)
    assert len(items) == 1 and isinstance(items[0], ExecutingMessage)


async def test_a_socket_that_breaks_raises_a_connection_error():
    seen = []
    async with (
        replaying(wire_frames("ws_trace_basic.jsonl")[:3], close_abruptly=True) as url,
        ComfyClient(url) as comfy,
    ):
        with pytest.raises(ComfyConnectionError):
            async for item in comfy.messages():
                seen.append(item)
    assert len(seen) == 3


async def test_a_refused_upgrade_with_403_is_the_origin_check():
    def refuse(connection, request):
        return connection.respond(403, "")

    async with replaying([], process_request=refuse) as url, ComfyClient(url) as comfy:
        with pytest.raises(ComfyOriginRejected):
            await collect(comfy)


async def test_no_server_is_a_connection_error():
    async with replaying([]) as url:
        pass
    async with ComfyClient(url, timeout=5) as comfy:
        with pytest.raises(ComfyConnectionError):
            await asyncio.wait_for(collect(comfy), 30)
