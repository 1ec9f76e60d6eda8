"""ComfyClient driving a real `orch sim` over HTTP and its websocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from contextlib import aclosing

import pytest

from orch_common.comfy.binary import PreviewImageWithMetadata
from orch_common.comfy.client import ComfyClient
from orch_common.comfy.errors import ComfyConnectionError, ComfyNotFound, ComfyValidationError
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


class Watcher:
    """Everything one client's socket receives, collected in the background, with waiting on it."""

    def __init__(self, comfy: ComfyClient) -> None:
        self.comfy = comfy
        self.received: list = []
        self._changed = asyncio.Condition()
        self.task: asyncio.Task[None] | None = None

    async def _listen(self) -> None:
        async with aclosing(self.comfy.messages()) as stream:
            async for item in stream:
                async with self._changed:
                    self.received.append(item)
                    self._changed.notify_all()

    async def __aenter__(self) -> Watcher:
        self.task = asyncio.create_task(self._listen())
        await self.wait_for(lambda item: isinstance(item, StatusMessage))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ComfyConnectionError):
            await self.task

    async def wait_for(self, predicate) -> None:
        async with asyncio.timeout(SAFETY), self._changed:
            await self._changed.wait_for(lambda: any(predicate(item) for item in self.received))


def executing(prompt_id: str, node: str | None):
    def matches(item) -> bool:
        return isinstance(item, ExecutingMessage) and item.data.prompt_id == prompt_id and item.data.node == node

    return matches


async def run_prompt(comfy: ComfyClient, prompt: dict, prompt_id: str):
    """Open the socket, submit once it is up, collect everything until ``executing{node: null}``."""
    async with Watcher(comfy) as watcher:
        accepted = await comfy.submit_prompt(prompt, prompt_id=prompt_id)
        await watcher.wait_for(executing(prompt_id, None))
    return accepted, list(watcher.received)


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


async def test_a_server_of_the_recorded_version_has_no_jobs_api(sim: SimProcess):
    async with ComfyClient(sim.url) as comfy:
        assert await comfy.jobs() is None
        assert (await comfy.system_stats()).devices
        assert (await comfy.features())["supports_preview_metadata"] is True


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


@pytest.fixture(scope="module")
def hanging_sim(tmp_path_factory: pytest.TempPathFactory):
    """A sim on which every prompt stops making progress at ImageInvert until interrupted."""
    with start_sim(tmp_path_factory.mktemp("hanging-sim"), speed=20, hang_at_node="ImageInvert") as process:
        yield process


async def test_reconcile_follows_a_prompt_through_running_pending_deleted_and_interrupted(hanging_sim: SimProcess):
    stuck, waiting = str(uuid.uuid4()), str(uuid.uuid4())
    async with ComfyClient(hanging_sim.url) as comfy, Watcher(comfy) as watcher:
        await comfy.submit_prompt(BASIC, prompt_id=stuck)
        await watcher.wait_for(executing(stuck, "3"))
        assert (await comfy.reconcile(stuck)).state is PromptState.RUNNING
        await comfy.submit_prompt(BASIC, prompt_id=waiting)
        assert (await comfy.reconcile(waiting)).state is PromptState.PENDING

        await comfy.delete_from_queue([waiting])
        assert (await comfy.reconcile(waiting)).state is PromptState.LOST

        await comfy.interrupt(stuck)
        await watcher.wait_for(executing(stuck, None))
        fate = await comfy.reconcile(stuck)
        assert fate.state is PromptState.DONE
        assert fate.history is not None and not fate.history.succeeded
        assert [name for name, _ in fate.history.status.messages][-1] == "execution_interrupted"


async def test_a_prompt_on_a_server_that_restarts_is_lost_and_the_socket_reports_the_break(hanging_sim: SimProcess):
    prompt_id = str(uuid.uuid4())
    async with ComfyClient(hanging_sim.url) as comfy:
        watcher = Watcher(comfy)
        async with watcher:
            await comfy.submit_prompt(BASIC, prompt_id=prompt_id)
            await watcher.wait_for(executing(prompt_id, "3"))
            assert (await comfy.reconcile(prompt_id)).state is PromptState.RUNNING

            await asyncio.to_thread(hanging_sim.restart, True)
            assert watcher.task is not None
            with pytest.raises(ComfyConnectionError):
                await asyncio.wait_for(watcher.task, SAFETY)
        assert (await comfy.reconcile(prompt_id)).state is PromptState.LOST


async def test_a_reconnecting_socket_is_told_the_running_node_without_a_prompt_id(hanging_sim: SimProcess):
    prompt_id = str(uuid.uuid4())
    async with ComfyClient(hanging_sim.url) as comfy:
        async with Watcher(comfy) as first:
            await comfy.submit_prompt(BASIC, prompt_id=prompt_id)
            await first.wait_for(executing(prompt_id, "3"))
        async with Watcher(comfy) as second:
            await second.wait_for(lambda item: isinstance(item, ExecutingMessage))
            replay = next(item for item in second.received if isinstance(item, ExecutingMessage))
            assert (replay.data.node, replay.data.prompt_id) == ("3", None)
            await comfy.interrupt(prompt_id)
            await second.wait_for(executing(prompt_id, None))
