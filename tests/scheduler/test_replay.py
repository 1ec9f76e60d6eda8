"""Replay folds the logged events in log order, skips kinds it does not fold, and leaves the collector as it was."""

from __future__ import annotations

import gc

import pytest

from orch_scheduler import replay
from orch_scheduler.domain.fold import apply
from orch_scheduler.domain.state import SchedulerState
from orch_scheduler.eventlog import EventLog, LogRecord, record_of
from tests.scheduler.factories import registered, scheduled, submitted


def test_replay_gives_the_state_of_folding_the_logged_events_in_order_and_skips_unknown_kinds(tmp_path):
    events = [registered("gpu-a"), submitted("j1"), scheduled("j1", "gpu-a"), submitted("j2")]
    log = EventLog(tmp_path / "events.duckdb")
    log.append([record_of(e) for e in events[:2]])
    log.append([LogRecord(event_id="p1:x", type="project.something_new", payload='{"type": "project.something_new"}')])
    log.append([record_of(e) for e in events[2:]])
    log.close()
    live = SchedulerState()
    for event in events:
        apply(live, event)
    assert replay(tmp_path / "events.duckdb").snapshot() == live.snapshot()


@pytest.mark.parametrize("enabled", [True, False])
def test_replay_leaves_the_garbage_collector_as_it_found_it(tmp_path, enabled):
    log = EventLog(tmp_path / "events.duckdb")
    log.append([record_of(submitted("j1"))])
    log.close()
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        replay(tmp_path / "events.duckdb")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
