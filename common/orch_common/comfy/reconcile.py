"""What became of a prompt after we lost sight of it (a dropped websocket, a restarted agent).

The fate is read from ``GET /queue`` and ``GET /history/{id}``, in that order: ComfyUI writes a
prompt's history entry before it takes it off the running list, so a prompt absent from the queue
when we looked is in the history we read afterwards, if it ever finished. A prompt in neither was
lost (the server restarted, or it was deleted from the queue, or history was cleared).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from orch_common.comfy.errors import ComfyPromptLost
from orch_common.comfy.wire import HistoryEntry, QueueState

__all__ = ["PromptFate", "PromptState", "determine_fate"]


class PromptState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    LOST = "lost"


class PromptFate(BaseModel):
    """Where a prompt is now. ``history`` is set when DONE (success, error or interrupted alike)."""

    model_config = ConfigDict(frozen=True)

    prompt_id: str
    state: PromptState
    history: HistoryEntry | None = None

    def raise_if_lost(self) -> PromptFate:
        """Return self unless LOST, in which case raise :class:`ComfyPromptLost`."""
        if self.state is PromptState.LOST:
            raise ComfyPromptLost(self.prompt_id)
        return self


def determine_fate(prompt_id: str, queue: QueueState, history: dict[str, HistoryEntry]) -> PromptFate:
    """The fate of ``prompt_id`` given a ``/queue`` read and a later ``/history/{prompt_id}`` read."""
    if prompt_id in queue.running_ids():
        return PromptFate(prompt_id=prompt_id, state=PromptState.RUNNING)
    if any(item.prompt_id == prompt_id for item in queue.queue_pending):
        return PromptFate(prompt_id=prompt_id, state=PromptState.PENDING)
    entry = history.get(prompt_id)
    if entry is not None:
        return PromptFate(prompt_id=prompt_id, state=PromptState.DONE, history=entry)
    return PromptFate(prompt_id=prompt_id, state=PromptState.LOST)
