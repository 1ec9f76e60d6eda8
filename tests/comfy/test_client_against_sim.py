"""ComfyClient driving a real `orch sim` over HTTP and its websocket."""

from __future__ import annotations

import asyncio
import json
import uuid
from contextlib import aclosing

import pytest

from orch_common.comfy.binary import PreviewImageWithMetadata
from orch_common.comfy.client import ComfyClient
from orch_common.comfy.errors import ComfyNotFound, ComfyValidationError
from orch_common.comfy.reconcile import PromptState
from orch_common.comfy.wire import (
    ExecutedMessage,
    ExecutingMessage,
    ExecutionStartMessage,
    ExecutionSuccessMessage,
    FeatureFlagsMessage,
    FolderType,
    MessageType,
    OutputFileItem,
    StatusMessage,
)
from tests.helpers.sim import SimProcess, start_sim

from ._fixtures import FIXTURES

BASIC = json.loads((FIXTURES / "workflows" / "api_basic.json").read_text())
PROGRESS = json.loads((FIXTURES / "workflows" / "api_progress_ws_images.json").read_text())
SAFETY = 60  # seconds before a stuck test gives up; not a speed expectation


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory):
    with start_sim(tmp_path_factory.mktemp("sim"), speed=20) as process:
        yield process


async def run_prompt(comfy: ComfyClient, prompt: dict, prompt_id: str):
    """Open the socket, submit once it is up, collect everything until ``executing{node: null}``."""
    received: list = []
    connected = asyncio.Event()

    async def listen() -> None:
        async with aclosing(comfy.messages()) as stream:
            async for item in stream:
                received.append(item)
                connected.set()
                if isinstance(item, ExecutingMessage) and item.data.node is None and item.data.prompt_id == prompt_id:
                    return

    listener = asyncio.create_task(listen())
    await asyncio.wait_for(connected.wait(), SAFETY)
    accepted = await comfy.submit_prompt(prompt, prompt_id=prompt_id)
    await asyncio.wait_for(listener, SAFETY)
    return accepted, received


def message_types(received: list) -> list[str]:
    return [str(item.type) for item in received if hasattr(item, "type")]


async def test_a_prompt_runs_to_completion_and_its_image_can_be_fetched(sim: SimProcess):
    prompt_id = str(uuid.uuid4())
    async with ComfyClient(sim.url) as comfy:
        accepted, received = await run_prompt(comfy, BASIC, prompt_id)
        assert accepted.prompt_id == prompt_id and not accepted.partial

        assert isinstance(received[0], StatusMessage) and received[0].data.sid == comfy.client_id
        assert isinstance(received[1], FeatureFlagsMessage)
        ours = [m for m in received if getattr(m.data, "prompt_id", None) == prompt_id]
        assert isinstance(ours[0], ExecutionStartMessage)
        assert isinstance(ours[-1], ExecutingMessage) and ours[-1].data.node is None
        assert any(isinstance(m, ExecutionSuccessMessage) for m in ours)
        types = message_types(ours)
        assert types.index(MessageType.EXECUTION_CACHED) < types.index(MessageType.EXECUTING)
        assert types.index(MessageType.EXECUTION_SUCCESS) < len(types) - 1
        executing = [m.data.node for m in ours if isinstance(m, ExecutingMessage) and m.data.node is not None]
        assert set(executing) == set(BASIC)

        (executed,) = [m for m in ours if isinstance(m, ExecutedMessage)]
        (image,) = [item for item in executed.data.output_items() if isinstance(item, OutputFileItem)]
        assert image.file.type == FolderType.OUTPUT

        fate = await comfy.reconcile(prompt_id)
        assert fate.state is PromptState.DONE and fate.history is not None and fate.history.succeeded
        assert [f.file for f in fate.history.output_files()] == [image.file]

        view = await comfy.view(image.file.filename, subfolder=image.file.subfolder, type=image.file.type)
        assert view.content.startswith(b"\x89PNG\r\n\x1a\n")
        assert view.content_type == "image/png"


async def test_previews_arrive_with_their_node_and_prompt(sim: SimProcess):
    prompt_id = str(uuid.uuid4())
    async with ComfyClient(sim.url) as comfy:
        _, received = await run_prompt(comfy, PROGRESS, prompt_id)
    previews = [f for f in received if isinstance(f, PreviewImageWithMetadata)]
    assert previews
    assert {p.metadata.prompt_id for p in previews} == {prompt_id}


async def test_a_refused_prompt_raises_a_validation_error(sim: SimProcess):
    broken = {**BASIC, "2": {**BASIC["2"], "inputs": {**BASIC["2"]["inputs"], "blur_radius": 0}}}
    async with ComfyClient(sim.url) as comfy:
        with pytest.raises(ComfyValidationError) as caught:
            await comfy.submit_prompt(broken)
    assert caught.value.error_type == "prompt_outputs_failed_validation"
    assert caught.value.node_error_types() == {"2": ["value_smaller_than_min"]}


async def test_a_prompt_the_server_never_saw_is_lost(sim: SimProcess):
    async with ComfyClient(sim.url) as comfy:
        fate = await comfy.reconcile(str(uuid.uuid4()))
        assert fate.state is PromptState.LOST
        assert await comfy.prompt_status() == 0


async def test_object_info_is_served_from_cache_while_unchanged(sim: SimProcess):
    async with ComfyClient(sim.url) as comfy:
        first = await comfy.object_info()
        digest = comfy.object_info_hash()
        assert await comfy.object_info() is first
        assert comfy.object_info_hash() == digest
        assert list(await comfy.object_info("ImageBlur")) == ["ImageBlur"]


async def test_an_uploaded_image_can_be_viewed_back(sim: SimProcess):
    png = (FIXTURES / "upload_source.png").read_bytes()
    name = f"fx-{uuid.uuid4().hex[:8]}.png"
    async with ComfyClient(sim.url) as comfy:
        uploaded = await comfy.upload_image(png, name, overwrite=True)
        assert uploaded.name == name and uploaded.type == FolderType.INPUT
        view = await comfy.view(uploaded.name, type=uploaded.type)
        assert view.content == png
        with pytest.raises(ComfyNotFound):
            await comfy.view("never-written.png")
