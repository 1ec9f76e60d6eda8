"""The DuckDB event log: idempotent batched appends that report what was new, read back in log order."""

from __future__ import annotations

import json

from orch_scheduler.eventlog import EventLog, record_of
from tests.scheduler.factories import registered, scheduled, submitted


def test_the_same_event_appended_twice_is_stored_once(tmp_path):
    log = EventLog(tmp_path / "events.duckdb")
    event = submitted("j1")
    assert log.append([record_of(event, stream_seq=1)]) == [True]
    assert log.append([record_of(event, stream_seq=2)]) == [False]
    assert log.count() == 1
    assert log.job_events("j1") == [json.loads(event.model_dump_json())]
    log.close()


def test_a_batch_with_duplicates_reports_only_first_occurrences_of_unseen_ids_as_new(tmp_path):
    log = EventLog(tmp_path / "events.duckdb")
    a, b, c = submitted("a"), submitted("b"), submitted("c")
    assert log.append([record_of(a)]) == [True]
    batch = [record_of(e) for e in (b, a, b, c, c, a)]
    assert log.append(batch) == [True, False, False, True, False, False]
    assert log.count() == 3
    log.close()


def test_the_log_keeps_its_order_and_its_contents_across_reopening(tmp_path):
    path = tmp_path / "events.duckdb"
    log = EventLog(path)
    events = [registered("gpu-a"), submitted("j1"), scheduled("j1", "gpu-a")]
    log.append([record_of(e, stream_seq=i + 10) for i, e in enumerate(events)])
    log.close()
    log = EventLog(path)
    assert log.max_stream_seq() == 12
    later = submitted("j2")
    assert log.append([record_of(events[1]), record_of(later)]) == [False, True]
    assert [json.loads(p)["type"] for p in log.payloads(chunk=2)] == [
        "backend.registered",
        "job.submitted",
        "job.scheduled",
        "job.submitted",
    ]
    assert [e["type"] for e in log.job_events("j1")] == ["job.submitted", "job.scheduled"]
    assert set(log.payloads_by_id(["j1:submitted", "nope"])) == {"j1:submitted"}
    log.close()


def test_the_row_by_row_path_has_the_same_semantics_as_the_bulk_path(tmp_path):
    log = EventLog(tmp_path / "events.duckdb")
    a, b = submitted("a"), submitted("b")
    assert log.append_slow([record_of(a), record_of(a), record_of(b)]) == [True, False, True]
    assert log.append([record_of(b), record_of(submitted("c"))]) == [False, True]
    assert log.count() == 3
    log.close()


def test_a_batch_of_only_logged_ids_after_reopening_reports_nothing_new(tmp_path):
    """After a restart the remembered ids are gone: the database's key must still tell every row is a duplicate."""
    path = tmp_path / "events.duckdb"
    log = EventLog(path)
    events = [submitted("a"), submitted("b"), scheduled("a", "gpu-a")]
    assert log.append([record_of(e) for e in events]) == [True, True, True]
    log.close()
    log = EventLog(path)
    assert log.append([record_of(e) for e in events]) == [False, False, False]
    assert log.append([record_of(events[0]), record_of(submitted("c"))]) == [False, True]
    assert log.count() == 4
    log.close()
