"""A bounded, coalescing outbox for one live client (a browser's websocket or SSE stream).

Messages are offered under a slot key (`("progress", job_id)`, `("job", job_id)`, …) and a rate key
(`("job", job_id)` or `("backend", backend_id)`). A slot holds only its latest message (last value wins);
at most `rate` messages per second leave for one rate key. A slow client therefore never builds an
unbounded backlog: the outbox holds at most one message per slot, and when there are more than
`max_pending` slots the oldest droppable ones (progress, previews, metrics) are discarded. Job and backend
state messages are never discarded. A job's terminal state takes its rate key's next turn, ahead of anything else
of that key (so it waits at most one interval and the rate holds strictly), and the progress and previews of its
rate key still waiting are dropped (the end supersedes them).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from typing import Any

from orch_common.contracts.rpc import JobState

__all__ = ["DROPPABLE", "Outbox", "OutboxClosed", "OutboxOverflow"]

DROPPABLE = frozenset({"progress", "preview", "metrics"})
"""Message types whose slot may be discarded under pressure (a newer one follows soon)."""

Slot = tuple[str, str]

_TERMINAL_STATES = frozenset(s.value for s in JobState if s.terminal)

_REMEMBER_AT_LEAST = 256
"""Rate keys kept before the first sweep of idle ones (a sweep is due when the count doubles since the last)."""


class OutboxClosed(Exception):
    """The outbox was closed: stop sending."""


class OutboxOverflow(OutboxClosed):
    """The client is so far behind that even state messages exceed twice the bound: disconnect it."""


class Outbox:
    """Coalescing per-client queue; `offer` never blocks, `next` waits for the next message that may leave."""

    def __init__(
        self,
        *,
        rate: float,
        max_pending: int,
        on_coalesced: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = 1.0 / rate
        self.max_pending = max_pending
        self._on_coalesced = on_coalesced or (lambda n: None)
        self._clock = clock
        self._pending: dict[Slot, tuple[Slot, dict[str, Any]]] = {}
        self._last_sent: dict[Slot, float] = {}  # rate key → when it last sent; idle keys are swept
        self._sweep_at = _REMEMBER_AT_LEAST
        self._wake = asyncio.Event()
        self._closed: BaseException | None = None
        self._urgent: dict[Slot, None] = {}  # slots holding a terminal job state: first at their key's next turn
        self.coalesced = 0

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def remembered_rate_keys(self) -> int:
        """How many rate keys the outbox holds a last-send time for (about twice those active in one interval)."""
        return len(self._last_sent)

    def offer(self, slot: Slot, rate_key: Slot, message: dict[str, Any]) -> None:
        """Queue `message` in `slot`, replacing (and counting) an older one still waiting there."""
        if self._closed is not None:
            return
        if slot in self._pending:
            self._count(1)
        elif len(self._pending) >= self.max_pending:
            made_room = self._make_room()
            if not made_room and len(self._pending) >= 2 * self.max_pending:
                self.close(OutboxOverflow(f"more than {2 * self.max_pending} state messages waiting"))
                return
        if _is_terminal_job_state(message):
            self._drop_droppable(rate_key, keep=slot)
            self._urgent[slot] = None
        self._pending[slot] = (rate_key, message)
        self._wake.set()

    def _drop_droppable(self, rate_key: Slot, *, keep: Slot) -> None:
        stale = [s for s, (key, _) in self._pending.items() if key == rate_key and s != keep and s[0] in DROPPABLE]
        for s in stale:
            del self._pending[s]
        if stale:
            self._count(len(stale))

    def _make_room(self) -> bool:
        for slot in self._pending:
            if slot[0] in DROPPABLE:
                del self._pending[slot]
                self._count(1)
                return True
        return False

    def _count(self, n: int) -> None:
        self.coalesced += n
        self._on_coalesced(n)

    def close(self, reason: BaseException | None = None) -> None:
        if self._closed is None:
            self._closed = reason or OutboxClosed("closed")
        self._wake.set()

    @property
    def closed(self) -> bool:
        return self._closed is not None

    def _take_due(self) -> tuple[dict[str, Any] | None, float]:
        """The first message whose rate key may send now, else None and the seconds until one may."""
        now = self._clock()
        wait = math.inf
        ending: set[Slot] = set()  # rate keys whose terminal state waits for their next turn: it goes first
        for slot in list(self._urgent):
            pending = self._pending.get(slot)
            if pending is None:
                del self._urgent[slot]
                continue
            rate_key, message = pending
            due = self._last_sent.get(rate_key, -math.inf) + self.interval
            if due <= now:
                del self._urgent[slot]
                del self._pending[slot]
                self._sent(rate_key, now)
                return message, 0.0
            ending.add(rate_key)
            wait = min(wait, due - now)
        for slot, (rate_key, message) in self._pending.items():
            if rate_key in ending:
                continue
            due = self._last_sent.get(rate_key, -math.inf) + self.interval
            if due <= now:
                del self._pending[slot]
                self._sent(rate_key, now)
                return message, 0.0
            wait = min(wait, due - now)
        return None, wait

    def _sent(self, rate_key: Slot, now: float) -> None:
        self._last_sent[rate_key] = now
        if len(self._last_sent) >= self._sweep_at:
            # a key whose next turn has come may send at once, exactly as a key never seen: forget it
            for key in [k for k, t in self._last_sent.items() if t + self.interval <= now]:
                del self._last_sent[key]
            self._sweep_at = max(_REMEMBER_AT_LEAST, 2 * len(self._last_sent))

    async def next(self) -> dict[str, Any]:
        """Wait for the next message allowed to leave; raises `OutboxClosed` once closed."""
        while True:
            if self._closed is not None:
                raise self._closed
            message, wait = self._take_due()
            if message is not None:
                return message
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), None if math.isinf(wait) else wait)


def _is_terminal_job_state(message: dict[str, Any]) -> bool:
    job = message.get("job") if message.get("type") == "job" else None
    return isinstance(job, dict) and job.get("state") in _TERMINAL_STATES
