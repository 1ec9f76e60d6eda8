"""The event log: every event the scheduler has seen, in the order it folded them, in one DuckDB file.

The scheduler is the only process that opens the file. Appends are batched and idempotent on `event_id`: one
statement, committed on its own, inserts a whole batch through DuckDB's columnar path (the rows turned into numpy
columns with one `zip`, registered as a view, timestamps as int64 microseconds; a batch of fewer than 64 rows as
parameter lists, unnested) and reports which records were new.
A batch of ids all new is one plain `INSERT` (the primary key check is the only dedupe); when the key refuses it,
that statement is rolled back whole and the batch goes again as `INSERT OR IGNORE … RETURNING`, which says which
rows were new (a per-row conflict path, paid only by batches that carry a duplicate). The ids of the last ~20,000
appended events are kept in memory, so their echoes (decisions coming back through the consumer, redeliveries) are
known duplicates before DuckDB is asked. `pos` is the log's own order (the fold order); `stream_seq` is the
JetStream sequence. A commit is durable (DuckDB syncs its write-ahead log); DuckDB runs on one thread and
checkpoints automatically every 64 MiB of log (see `_SETTINGS`), and the long strings are stored with ZSTD, which
checkpoints at about a third of the CPU of DuckDB's default string compression.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import numpy as np

from orch_scheduler.errors import EventLogError

__all__ = ["EventLog", "LogRecord", "record_of"]

# The long, mostly unique strings are stored with ZSTD: DuckDB's default (dictionary + FSST) spends about three
# times the CPU at each checkpoint and makes a larger file. A file made before this keeps its own definition.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    pos BIGINT NOT NULL,
    stream_seq BIGINT,
    event_id VARCHAR USING COMPRESSION zstd PRIMARY KEY,
    type VARCHAR NOT NULL,
    job_id VARCHAR,
    backend_id VARCHAR,
    project_id VARCHAR,
    subject VARCHAR USING COMPRESSION zstd,
    occurred_at TIMESTAMPTZ,
    payload VARCHAR NOT NULL USING COMPRESSION zstd
)
"""

_COLUMNS = (
    "pos",
    "stream_seq",
    "event_id",
    "type",
    "job_id",
    "backend_id",
    "project_id",
    "subject",
    "occurred_at",
    "payload",
)

_NO_TIME = -(2**63)  # occurred_us of a record without a timestamp (NULL in the log)
_SELECT_BATCH = (
    "SELECT pos, stream_seq, event_id, type, job_id, backend_id, project_id, subject, "
    f"make_timestamptz(nullif(occurred_us, {_NO_TIME})), "  # epoch microseconds → TIMESTAMPTZ, whatever the zone
    "payload FROM _batch"
)
_INSERT_NEW = "INSERT INTO events " + _SELECT_BATCH
_INSERT_OR_IGNORE = "INSERT OR IGNORE INTO events " + _SELECT_BATCH + " RETURNING event_id"
# A small batch goes in as parameter lists, unnested side by side: registering and unregistering numpy columns
# costs about 1 ms of CPU a statement, which a trickle of 1–10 events pays on every batch (measured: 2.3 → 1.7 ms
# per 3-row append); from `_SMALL_BATCH` rows on the registered columns are cheaper.
_SMALL_BATCH = 64
_UNNEST_BATCH = (
    "(SELECT " + ", ".join(f"unnest(${c}) AS {c}" for c in (*_COLUMNS[:8], "occurred_us", "payload")) + ") AS _batch"
)
_INSERTS = (_INSERT_NEW, _INSERT_OR_IGNORE)
_SMALL_INSERTS = tuple(sql.replace("FROM _batch", f"FROM {_UNNEST_BATCH}") for sql in _INSERTS)
_RECENT_IDS = 20_000
# Measured at 1,000 rows per append on 2 cores: a second DuckDB thread only adds hand-offs to statements this small
# (one thread: ~10% less CPU per row, reads unchanged), and a 64 MiB write-ahead log between automatic checkpoints
# instead of 16 MiB takes another ~10% (fewer, no longer, pauses; a reopen after a crash replays at most that much).
_SETTINGS = ("SET threads = 1", "SET checkpoint_threshold = '64MiB'")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class LogRecord(NamedTuple):
    """One row to append: an event's id, routing columns and its JSON payload.

    A named tuple, so a batch turns into columns with one `zip(*records)`; the field order is that transposition's.
    """

    event_id: str
    type: str
    payload: str
    stream_seq: int | None = None
    job_id: str | None = None
    backend_id: str | None = None
    project_id: str | None = None
    subject: str | None = None
    occurred_at: datetime | None = None


def record_of(
    event: Any, *, stream_seq: int | None = None, payload: str | None = None, subject: str | None = None
) -> LogRecord:
    """The log row of a parsed event model (its payload is `payload` when given, else the model's JSON; its
    subject is `subject` when given, e.g. the one it was delivered on, else the event's own)."""
    fields = event.__dict__  # a model's fields; a kind without one of the routing columns leaves it None
    return LogRecord(
        event_id=event.event_id,
        type=fields["type"],
        payload=payload if payload is not None else event.model_dump_json(),
        stream_seq=stream_seq,
        job_id=fields.get("job_id"),
        backend_id=fields.get("backend_id"),
        project_id=fields.get("project_id"),
        subject=subject if subject is not None else event.subject,
        occurred_at=fields.get("occurred_at"),
    )


class EventLog:
    """The DuckDB event log. Not thread-safe on its own: one connection, guarded by a lock."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._con = duckdb.connect(str(self.path))
            self._con.execute("SET enable_progress_bar = false")  # a long replay read must not draw on stdout
            for setting in _SETTINGS:
                self._con.execute(setting)
            self._con.execute(_SCHEMA)
            (row,) = self._con.execute("SELECT coalesce(max(pos), 0) FROM events").fetchall()
        except (duckdb.Error, OSError) as exc:
            raise EventLogError(f"cannot open the event log {self.path}: {exc}") from exc
        self._next_pos = int(row[0]) + 1
        self._lock = threading.Lock()
        self._recent: set[str] = set()  # ids this log appended lately (two generations, see `_remember`)
        self._older: set[str] = set()

    # ------------------------------------------------------------------------------------------- writing

    def append(self, records: Sequence[LogRecord]) -> list[bool]:
        """Append `records` in one transaction; element i is True when record i was new (first of its id)."""
        if not records:
            return []
        ids = [rec.event_id for rec in records]
        with self._lock:
            recent, older = self._recent, self._older
            if len(set(ids)) == len(ids) and recent.isdisjoint(ids) and older.isdisjoint(ids):
                unique = records  # the usual batch: nothing repeated, nothing appended lately
            else:
                first: dict[str, int] = {}
                for i, event_id in enumerate(ids):
                    first.setdefault(event_id, i)
                unique = [records[i] for i, event_id in enumerate(ids) if first[event_id] == i]
                unique = [r for r in unique if r.event_id not in recent and r.event_id not in older]
            if not unique:
                return [False] * len(records)
            start = self._next_pos
            try:
                known = self._insert(unique, start)
            except duckdb.Error as exc:
                raise EventLogError(f"cannot append {len(unique)} events to {self.path}: {exc}") from exc
            self._next_pos = start + len(unique)
            inserted = set(ids) if known is None and unique is records else known
            if inserted is None:
                inserted = {r.event_id for r in unique}
            self._remember(inserted)
        if unique is records and known is None:
            return [True] * len(records)
        seen: set[str] = set()
        new: list[bool] = []
        for event_id in ids:
            new.append(event_id in inserted and event_id not in seen)
            seen.add(event_id)
        return new

    def _remember(self, event_ids: set[str]) -> None:
        """Keep the ids of the last ~`_RECENT_IDS` appended events: their echoes (decisions coming back through
        the consumer, redeliveries) are known duplicates without asking DuckDB, so batches stay on the fast path."""
        self._recent |= event_ids
        if len(self._recent) > _RECENT_IDS:
            self._older, self._recent = self._recent, set()

    def _insert(self, records: Sequence[LogRecord], start: int) -> set[str] | None:
        """Insert the batch, one statement committed on its own: None when every row was new, else the ids that
        were. A statement that fails is rolled back whole, so a refused plain `INSERT` leaves nothing behind."""
        con = self._con
        small = len(records) < _SMALL_BATCH
        new_rows, or_ignore = _SMALL_INSERTS if small else _INSERTS
        params = _lists(records, start) if small else None
        if not small:
            con.register("_batch", _columns(records, start))
        try:
            try:
                con.execute(new_rows, params).fetchall()
                return None
            except duckdb.ConstraintException:
                pass  # some id is logged already: the slower path that tells which
            return {row[0] for row in con.execute(or_ignore, params).fetchall()}
        finally:
            if not small:
                con.unregister("_batch")

    def append_slow(self, records: Sequence[LogRecord]) -> list[bool]:
        """Row-by-row `executemany` append (same semantics as `append`): kept only for the benchmark."""
        if not records:
            return []
        with self._lock:
            existing = self._existing([r.event_id for r in records])
            new: list[bool] = []
            rows = []
            for rec in records:
                is_new = rec.event_id not in existing
                new.append(is_new)
                if is_new:
                    existing.add(rec.event_id)
                    rows.append(
                        (
                            self._next_pos,
                            rec.stream_seq,
                            rec.event_id,
                            rec.type,
                            rec.job_id,
                            rec.backend_id,
                            rec.project_id,
                            rec.subject,
                            rec.occurred_at,
                            rec.payload,
                        )
                    )
                    self._next_pos += 1
            self._con.executemany(f"INSERT INTO events VALUES ({', '.join('?' * len(_COLUMNS))})", rows)
        return new

    # ------------------------------------------------------------------------------------------- reading

    def count(self) -> int:
        return self._scalar("SELECT count(*) FROM events")

    def max_stream_seq(self) -> int:
        return self._scalar("SELECT coalesce(max(stream_seq), 0) FROM events")

    def payloads(self, chunk: int = 10_000) -> Iterator[str]:
        """Every payload in log order (the order the live fold applied them), read `chunk` rows at a time."""
        with self._lock:
            cur = self._con.cursor()
        try:
            cur.execute("SELECT payload FROM events ORDER BY pos")
            while True:
                rows = cur.fetchmany(chunk)
                if not rows:
                    return
                for (payload,) in rows:
                    yield payload
        finally:
            cur.close()

    def payloads_by_id(self, event_ids: Iterable[str]) -> dict[str, str]:
        ids = list(event_ids)
        if not ids:
            return {}
        with self._lock:
            rows = self._con.execute(
                "SELECT event_id, payload FROM events WHERE event_id IN (SELECT unnest(?))", [ids]
            ).fetchall()
        return {event_id: payload for event_id, payload in rows}

    def job_events(self, job_id: str) -> list[dict[str, Any]]:
        """The job's full history as JSON dicts, in log order."""
        return self._dicts("SELECT payload FROM events WHERE job_id = ? ORDER BY pos", job_id)

    def project_events(self, project_id: str) -> list[dict[str, Any]]:
        return self._dicts("SELECT payload FROM events WHERE project_id = ? ORDER BY pos", project_id)

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def _existing(self, event_ids: list[str]) -> set[str]:
        rows = self._con.execute("SELECT event_id FROM events WHERE event_id IN (SELECT unnest(?))", [event_ids])
        return {row[0] for row in rows.fetchall()}

    def _scalar(self, sql: str) -> int:
        with self._lock:
            (row,) = self._con.execute(sql).fetchall()  # fetched to the end: the connection takes new work
        return int(row[0])

    def _dicts(self, sql: str, *params: object) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._con.execute(sql, list(params)).fetchall()
        return [json.loads(payload) for (payload,) in rows]


def _columns(records: Sequence[LogRecord], start: int) -> dict[str, np.ndarray[Any, Any]]:
    """The batch as numpy columns (strings as object arrays, times as int64 microseconds), `pos` from `start`."""
    event_ids, types, payloads, seqs, job_ids, backend_ids, project_ids, subjects, times = zip(*records, strict=True)
    return {
        "pos": np.arange(start, start + len(records), dtype=np.int64),
        "stream_seq": np.array(seqs, dtype=object),
        "event_id": np.array(event_ids, dtype=object),
        "type": np.array(types, dtype=object),
        "job_id": np.array(job_ids, dtype=object),
        "backend_id": np.array(backend_ids, dtype=object),
        "project_id": np.array(project_ids, dtype=object),
        "subject": np.array(subjects, dtype=object),
        "occurred_us": np.array([_micros(at) for at in times], dtype=np.int64),
        "payload": np.array(payloads, dtype=object),
    }


def _lists(records: Sequence[LogRecord], start: int) -> dict[str, list[Any]]:
    """The batch as parameter lists for `_UNNEST_BATCH` (the same columns as `_columns`)."""
    event_ids, types, payloads, seqs, job_ids, backend_ids, project_ids, subjects, times = zip(*records, strict=True)
    return {
        "pos": list(range(start, start + len(records))),
        "stream_seq": list(seqs),
        "event_id": list(event_ids),
        "type": list(types),
        "job_id": list(job_ids),
        "backend_id": list(backend_ids),
        "project_id": list(project_ids),
        "subject": list(subjects),
        "occurred_us": [_micros(at) for at in times],
        "payload": list(payloads),
    }


def _micros(at: datetime | None) -> int:
    """Microseconds since the epoch (a naive time counts as UTC); `_NO_TIME` for no time."""
    if at is None:
        return _NO_TIME
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (at - _EPOCH) // _MICROSECOND
