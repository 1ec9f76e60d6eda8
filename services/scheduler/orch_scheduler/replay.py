"""Rebuilding the state from the event log: `replay(db_path)` folds every logged event, in log order.

The cyclic garbage collector is paused while a replay folds: everything a replay keeps is the state, which lives on,
and what it drops is freed by reference counting, so the collector's passes over the growing state (about a sixth
of a replay's CPU) would find nothing. It runs again, as it was set, when the replay ends.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from orch_common.contracts.events import parse_event
from orch_scheduler.domain.fold import apply
from orch_scheduler.domain.state import SchedulerState
from orch_scheduler.eventlog import EventLog

__all__ = ["replay", "replay_log"]

log = logging.getLogger(__name__)


def replay_log(event_log: EventLog) -> SchedulerState:
    """The state obtained by folding every event of `event_log` from zero, in the order they were folded live."""
    state = SchedulerState()
    skipped = 0
    with _collector_paused():
        for payload in event_log.payloads():
            try:
                event = parse_event(payload)
            except ValidationError:
                skipped += 1  # logged events of kinds the scheduler does not fold (e.g. project runs)
                continue
            apply(state, event)
    if skipped:
        log.info("replay: %d logged events are of kinds the scheduler does not fold", skipped)
    return state


def replay(db_path: Path | str) -> SchedulerState:
    """Open the event log at `db_path` (the scheduler must not be running on it) and replay it from zero."""
    event_log = EventLog(db_path)
    try:
        return replay_log(event_log)
    finally:
        event_log.close()


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
