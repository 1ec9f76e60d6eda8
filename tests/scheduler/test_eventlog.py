"""The DuckDB event log: idempotent batched appends that report what was new, read back in log order."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import duckdb

from orch_scheduler.eventlog import EventLog, LogRecord, record_of
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


def test_occurred_at_is_stored_as_the_same_instant_whatever_its_zone_and_none_as_null(tmp_path):
    path = tmp_path / "events.duckdb"
    log = EventLog(path)
    aware = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    naive = datetime(2026, 3, 1, 12, 30, 15, 123456)  # counts as UTC
    log.append(
        [
            LogRecord(event_id="a", type="t", payload="{}", occurred_at=aware),
            LogRecord(event_id="b", type="t", payload="{}", occurred_at=naive),
            LogRecord(event_id="c", type="t", payload="{}"),
        ]
    )
    log.close()
    con = duckdb.connect(str(path))
    rows = con.execute("SELECT event_id, epoch_us(occurred_at) FROM events ORDER BY pos").fetchall()
    con.close()
    micros = [
        (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        for at in (aware, naive.replace(tzinfo=UTC))
    ]
    assert rows == [("a", micros[0]), ("b", micros[1]), ("c", None)]


def test_a_committed_append_survives_a_process_that_dies_without_closing_the_log(tmp_path):
    path = tmp_path / "events.duckdb"
    child = (
        "import os, sys\n"
        "from orch_scheduler.eventlog import EventLog\n"
        "from tests.scheduler.factories import submitted\n"
        "from orch_scheduler.eventlog import record_of\n"
        "log = EventLog(sys.argv[1])\n"
        "assert log.append([record_of(submitted(f'j{i}'), stream_seq=i) for i in range(1, 301)]) == [True] * 300\n"
        "os._exit(0)  # no close, no checkpoint: only the committed write-ahead log is on disk\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", child, str(path)], check=True, cwd=root, timeout=60)
    log = EventLog(path)
    assert log.count() == 300
    assert log.max_stream_seq() == 300
    assert log.append([record_of(submitted("j7"))]) == [False]  # the key survived too
    log.close()


def _rows(path: Path) -> list[tuple[object, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            "SELECT pos, stream_seq, event_id, type, job_id, backend_id, project_id, subject, epoch_us(occurred_at), "
            "payload FROM events ORDER BY pos"
        ).fetchall()


def test_small_and_large_batches_store_the_same_rows_and_report_the_same_news(tmp_path):
    naive = datetime(2026, 1, 1, 12, 0)  # counts as UTC
    events = [submitted(f"j{i}") for i in range(150)] + [registered("gpu")]
    records = [record_of(e, stream_seq=i if i % 3 else None) for i, e in enumerate(events)]
    records[5] = records[5]._replace(occurred_at=None)
    records[7] = records[7]._replace(occurred_at=naive)
    batches = {"small": 5, "large": 100}  # below and above the size from which columns are registered
    news = {}
    for name, size in batches.items():
        log = EventLog(tmp_path / f"{name}.duckdb")
        news[name] = [log.append(records[i : i + size]) for i in range(0, len(records), size)]
        # again, with repeats inside the batch and ids already logged: only the unseen one is new
        news[name].append(log.append([records[0], records[1], records[0], record_of(submitted("late"))]))
        log.close()
        # and from a reopened log, whose in-memory ids are gone: DuckDB itself refuses the logged ones
        log = EventLog(tmp_path / f"{name}.duckdb")
        news[name].append(log.append([record_of(submitted("later")), *records[: size + 1]]))
        log.close()
    small, large = _rows(tmp_path / "small.duckdb"), _rows(tmp_path / "large.duckdb")
    assert small == large and len(small) == len(records) + 2
    flat = {name: [flag for batch in found for flag in batch] for name, found in news.items()}
    assert flat["small"][: len(records)] == flat["large"][: len(records)] == [True] * len(records)
    assert news["small"][-2] == news["large"][-2] == [False, False, False, True]
    assert news["small"][-1][0] is news["large"][-1][0] is True and not any(news["small"][-1][1:])
