"""After a dropped socket, a prompt's fate is read from /queue and /history."""

from __future__ import annotations

import pytest

from orch_common.comfy.client import ComfyClient
from orch_common.comfy.errors import ComfyPromptLost
from orch_common.comfy.reconcile import PromptState, determine_fate
from orch_common.comfy.wire import HistoryEntry, HistoryStatus, QueueState

from ._fixtures import load_json
from ._recorded_server import RecordedServer

QUEUE = load_json("queue_running_and_pending.json")
RUNNING_ID = QUEUE["queue_running"][0][1]
PENDING_ID = QUEUE["queue_pending"][0][1]
(DONE_ID,) = load_json("history_basic.json")
(FAILED_ID,) = load_json("history_runtime_error.json")


def server_with(queue: dict, history: dict[str, dict]) -> RecordedServer:
    server = RecordedServer().on("GET", "/queue", queue)
    for prompt_id in (RUNNING_ID, PENDING_ID, DONE_ID, FAILED_ID, "gone"):
        server.on("GET", f"/history/{prompt_id}", {k: v for k, v in history.items() if k == prompt_id})
    return server


async def fate_of(prompt_id: str, server: RecordedServer):
    async with ComfyClient("http://comfy.test", transport=server.transport) as comfy:
        return await comfy.reconcile(prompt_id)


async def test_a_queued_prompt_is_pending():
    fate = await fate_of(PENDING_ID, server_with(QUEUE, {}))
    assert fate.state is PromptState.PENDING and fate.history is None


async def test_the_running_prompt_is_running():
    fate = await fate_of(RUNNING_ID, server_with(QUEUE, {}))
    assert fate.state is PromptState.RUNNING


async def test_a_finished_prompt_is_done_with_its_history():
    fate = await fate_of(DONE_ID, server_with(load_json("queue_empty.json"), load_json("history_basic.json")))
    assert fate.state is PromptState.DONE
    assert fate.history is not None and fate.history.succeeded
    assert fate.raise_if_lost() is fate


async def test_a_failed_prompt_is_done_too_and_its_history_says_error():
    fate = await fate_of(FAILED_ID, server_with(load_json("queue_empty.json"), load_json("history_runtime_error.json")))
    assert fate.state is PromptState.DONE
    assert fate.history.status.status_str == HistoryStatus.ERROR


async def test_a_prompt_the_server_no_longer_knows_is_lost():
    fate = await fate_of("gone", server_with(load_json("queue_idle_after_runs.json"), {}))
    assert fate.state is PromptState.LOST
    with pytest.raises(ComfyPromptLost, match="gone"):
        fate.raise_if_lost()


async def test_the_queue_is_read_before_the_history():
    server = server_with(load_json("queue_empty.json"), load_json("history_basic.json"))
    await fate_of(DONE_ID, server)
    assert [r.url.path for r in server.requests] == ["/queue", f"/history/{DONE_ID}"]


def test_a_prompt_in_the_queue_wins_over_a_stale_history_entry():
    queue = QueueState.model_validate(QUEUE)
    history = {RUNNING_ID: HistoryEntry.model_validate(next(iter(load_json("history_basic.json").values())))}
    assert determine_fate(RUNNING_ID, queue, history).state is PromptState.RUNNING
