"""The prompt queue and history, shaped like ComfyUI's `PromptQueue`.

Pending items live in a min-heap on `number` (front prompts carry negative numbers) and are listed in raw
heap order. Every change calls `on_change`, which the server turns into a `status` broadcast.
History keeps insertion order and at most `MAX_HISTORY` entries.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_HISTORY", "PromptQueue", "QueueItem"]

MAX_HISTORY = 10000

# [number, prompt_id, prompt, extra_data, outputs_to_execute], exactly the `/queue` element.
QueueItem = tuple[float, str, dict[str, Any], dict[str, Any], list[str]]


class PromptQueue:
    def __init__(self, on_change: Callable[[], None]) -> None:
        self.on_change = on_change
        self.pending: list[QueueItem] = []
        self.running: dict[str, QueueItem] = {}
        self.history: dict[str, dict[str, Any]] = {}
        self._wakeup = asyncio.Event()

    @property
    def remaining(self) -> int:
        return len(self.pending) + len(self.running)

    def put(self, item: QueueItem) -> None:
        heapq.heappush(self.pending, item)
        self._wakeup.set()
        self.on_change()

    async def get(self) -> QueueItem:
        while not self.pending:
            self._wakeup.clear()
            await self._wakeup.wait()
        item = heapq.heappop(self.pending)
        self.running[item[1]] = item
        self.on_change()
        return item

    def task_done(self, prompt_id: str, outputs: dict[str, Any], meta: dict[str, Any],
                  status: dict[str, Any]) -> None:
        item = self.running.pop(prompt_id, None)
        if item is not None:
            if len(self.history) >= MAX_HISTORY:
                del self.history[next(iter(self.history))]
            self.history[prompt_id] = {"prompt": list(item), "outputs": outputs, "status": status, "meta": meta}
        self.on_change()

    def delete(self, prompt_ids: list[str]) -> None:
        for prompt_id in prompt_ids:
            for index, item in enumerate(self.pending):
                if item[1] == prompt_id:
                    self.pending.pop(index)
                    heapq.heapify(self.pending)
                    self.on_change()
                    break

    def clear(self) -> None:
        self.pending = []
        self.on_change()

    def wipe(self) -> None:
        """Forget everything (a simulated restart); no status is sent."""
        self.pending = []
        self.running = {}
        self.history = {}

    def snapshot(self) -> dict[str, list[list[Any]]]:
        return {"queue_running": [list(item) for item in self.running.values()],
                "queue_pending": [list(item) for item in self.pending]}

    def get_history(self, max_items: int | None = None, offset: int = -1) -> dict[str, Any]:
        if offset < 0 and max_items is not None:
            offset = len(self.history) - max_items
        selected: dict[str, Any] = {}
        for index, (prompt_id, entry) in enumerate(self.history.items()):
            if index < offset:
                continue
            selected[prompt_id] = entry
            if max_items is not None and len(selected) >= max_items:
                break
        return selected

    def delete_history(self, prompt_ids: list[str]) -> None:
        for prompt_id in prompt_ids:
            self.history.pop(prompt_id, None)

    def clear_history(self) -> None:
        self.history = {}
