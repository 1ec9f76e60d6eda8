"""Event-log benchmarks: the scheduler's DuckDB write path, ingest from JetStream, replay, and memory.

- DuckDB write stage alone: `EventLog.append` (numpy columns registered as a view, one auto-committed `INSERT`
  per 1,000-event batch, `INSERT OR IGNORE … RETURNING` only for a batch the primary key refuses; target
  ≥ 100,000 rows/s) side by side with the row-by-row `executemany` path (`EventLog.append_slow`), same rows, same
  dedupe semantics;
- ingest from JetStream into DuckDB through the real scheduler (its durable pull consumer, batches of 1,000):
  a flood of events published as fast as one client can (sustained events/s, target ≥ 8,000), then a paced
  stream for latency: the stream's own storage timestamp → the batch's DuckDB commit (`after_commit`), i.e.
  publish → queryable (target p99 ≤ 250 ms); raw floor: a JetStream publish + ack round trip;
- replay: 1M events (jobs submitted → scheduled → started → progressed ×2 → succeeded) bulk-written to a fresh
  file, then `replay()` folds it from zero (target < 2 min);
- memory of the state: 100,000 queued jobs folded under tracemalloc, bytes kept per 1,000 jobs (target ≤ 1 MiB).

Run: ``python -m bench.bench_eventlog [--quick]``.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
from nats.aio.msg import Msg

from bench.common import STATS_HEADER, STATS_RULE, jetstream_floor, stats
from orch_common.contracts import events as ev
from orch_common.contracts import subjects
from orch_common.natsutil import NatsServer, ensure_topology
from orch_scheduler import EventLog, Scheduler, SchedulerSettings, SchedulerState, replay
from orch_scheduler.domain.fold import apply
from orch_scheduler.eventlog import LogRecord
from orch_scheduler.main import tune_gc

__all__ = ["run"]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WORKFLOW = {
    "3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 20, "cfg": 7.0, "model": ["4", 0]}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
    "9": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "bench"}},
}


def _job_events(i: int) -> list[Any]:
    job_id = f"job-{i:08d}"
    t = T0 + timedelta(milliseconds=i)
    prompt = f"prompt-{i:08d}"
    return [
        ev.JobSubmitted(job_id=job_id, workflow=WORKFLOW, occurred_at=t),
        ev.JobScheduled(job_id=job_id, attempt=1, backend_id="gpu-a", prompt_id=prompt, occurred_at=t),
        ev.JobStarted(job_id=job_id, attempt=1, backend_id="gpu-a", prompt_id=prompt, occurred_at=t),
        ev.JobProgressed(job_id=job_id, attempt=1, seq=0, node_id="3", value=10, max=20, occurred_at=t),
        ev.JobProgressed(job_id=job_id, attempt=1, seq=1, node_id="3", value=20, max=20, occurred_at=t),
        ev.JobSucceeded(job_id=job_id, attempt=1, backend_id="gpu-a", occurred_at=t),
    ]


def _records(n_events: int) -> list[LogRecord]:
    """`n_events` log rows of whole job lifecycles; payloads are serialised once per kind and re-templated."""
    templates = [(e.type, e.model_dump_json(), e.event_id, e.subject) for e in _job_events(0)]
    stamp = T0
    out: list[LogRecord] = []
    i = 0
    while len(out) < n_events:
        job_id = f"job-{i:08d}"
        for kind, payload, event_id, subject in templates:
            out.append(
                LogRecord(
                    event_id=event_id.replace("job-00000000", job_id),
                    type=kind,
                    payload=payload.replace("job-00000000", job_id).replace("prompt-00000000", f"prompt-{i:08d}"),
                    stream_seq=len(out) + 1,
                    job_id=job_id,
                    backend_id="gpu-a" if kind != "job.submitted" else None,
                    subject=subject.replace("job-00000000", job_id),
                    occurred_at=stamp,
                )
            )
            if len(out) == n_events:
                break
        i += 1
    return out


# ------------------------------------------------------------------------------------------------ write stage


def bench_write_stage(tmp: Path, n_bulk: int, n_slow: int) -> list[str]:
    records = _records(n_bulk)
    rows = []
    for batch in (1000, 10_000):
        log = EventLog(tmp / f"write-bulk-{batch}.duckdb")
        started, cpu = time.perf_counter(), time.process_time()
        for k in range(0, n_bulk, batch):
            log.append(records[k : k + batch])
        wall_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu
        if batch == 1000:
            again = time.perf_counter()
            assert not any(log.append(records[-1000:]))  # the latest: their ids are in the log's memory
            dedupe_ms = (time.perf_counter() - again) * 1000
        closing, closing_cpu = time.perf_counter(), time.process_time()
        log.close()  # the last checkpoint (what the log still holds goes into the file) counts as writing
        wall_s, cpu_s = wall_s + time.perf_counter() - closing, cpu_s + time.process_time() - closing_cpu
        if batch == 1000:
            log = EventLog(tmp / f"write-bulk-{batch}.duckdb")  # reopened: no ids in memory, DuckDB decides
            again = time.perf_counter()
            assert not any(log.append(records[-1000:]))
            dedupe_db_ms = (time.perf_counter() - again) * 1000
            log.close()
        rows.append(
            f"| `append`, {batch:,} rows per transaction | {n_bulk:,} | {wall_s:.2f} | **{n_bulk / wall_s:,.0f}** | "
            f"{n_bulk / cpu_s:,.0f} |"
        )

    slow_log = EventLog(tmp / "write-slow.duckdb")
    started, cpu = time.perf_counter(), time.process_time()
    for k in range(0, n_slow, 100):
        slow_log.append_slow(records[k : min(k + 100, n_slow)])
    slow_s, slow_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    slow_log.close()
    return [
        "### DuckDB write stage alone (target ≥ 100,000 rows/s)",
        "",
        "`append`: the rows turned into numpy columns (one `zip`) registered as a view, one auto-committed `INSERT` "
        "against the primary key per call (`INSERT OR IGNORE … RETURNING` only when the key refuses the batch); "
        "payload, event id and subject stored with ZSTD; DuckDB on one thread, checkpointing every 64 MiB of "
        "write-ahead log. Each call is one durable commit; the time includes the automatic checkpoints and the last "
        "one, at close. Rows per CPU-second count every thread of this process.",
        "",
        "| path | rows | seconds | rows/s | rows per CPU-second |",
        "| --- | ---: | ---: | ---: | ---: |",
        *rows,
        f"| `append_slow` (`executemany`), 100 rows per call | {n_slow:,} | {slow_s:.2f} | {n_slow / slow_s:,.0f} | "
        f"{n_slow / slow_cpu_s:,.0f} |",
        "",
        f"Re-appending the latest 1,000 logged events (all reported not new): {dedupe_ms:.1f} ms with their ids "
        f"remembered by the log, {dedupe_db_ms:.1f} ms after reopening it (the rolled-back `INSERT`, then `INSERT OR "
        "IGNORE … RETURNING`).",
        "",
    ]


# ---------------------------------------------------------------------------------------------------- ingest


async def _publisher(url: str, mode: str, n: int, rate: int = 0) -> None:
    """Run in a child process (as agents and the API are): publish `n` events, flooding or paced at `rate`/s."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    if mode == "flood":
        events: list[Any] = [
            ev.JobSubmitted(job_id=f"flood-{i}", workflow=WORKFLOW, required_classes=["Nowhere"]) for i in range(n)
        ]
    else:
        events = [
            ev.JobProgressed(job_id=f"flood-{i % 1000}", attempt=1, seq=i, node_id="3", value=1, max=2)
            for i in range(n)
        ]
    payloads = [(e.subject, e.model_dump_json().encode(), e.event_id) for e in events]
    started = time.perf_counter()
    if mode == "flood":
        for k in range(0, n, 500):
            acks = [
                await js.publish_async(s, data, stream=subjects.EVENTS_STREAM, headers={"Nats-Msg-Id": mid})
                for s, data, mid in payloads[k : k + 500]
            ]
            await asyncio.gather(*acks)
    else:
        for i, (s, data, mid) in enumerate(payloads):
            await js.publish_async(s, data, stream=subjects.EVENTS_STREAM, headers={"Nats-Msg-Id": mid})
            lag = started + (i + 1) / rate - time.perf_counter()
            if lag > 0:
                await asyncio.sleep(lag)
        await js.publish_async_completed()
    print(f"{time.perf_counter() - started:.3f}", flush=True)
    await nc.close()


async def _publish_from_child(url: str, mode: str, n: int, rate: int = 0) -> float:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.bench_eventlog",
        "--publish",
        url,
        mode,
        str(n),
        str(rate),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"publisher exited with {proc.returncode}")
    return float(out.decode().strip().splitlines()[-1])


async def bench_ingest(tmp: Path, n_flood: int, paced_rate: int, paced_s: float) -> list[str]:
    async with NatsServer(store_dir=tmp / "nats") as server:
        nc = await nats.connect(server.url)
        await ensure_topology(nc.jetstream())
        floor = await jetstream_floor(server.url, 300)
        await nc.close()
        scheduler = Scheduler(SchedulerSettings(nats_url=server.url, db=tmp / "ingest.duckdb", fetch_wait_s=0.5))
        commits: list[tuple[float, list[Msg]]] = []
        committed = 0
        target = 0
        reached = asyncio.Event()

        async def on_commit(msgs: list[Msg]) -> None:
            nonlocal committed
            commits.append((time.time(), msgs))
            committed += len(msgs)
            if committed >= target:
                reached.set()

        scheduler.after_commit = on_commit
        await scheduler.start()
        tune_gc()  # as the `orch scheduler` process does once its state is replayed
        append_cpu = _meter_appends(scheduler.event_log)
        try:
            # flood: no backend is registered, so every job only queues (the write path, not placement)
            target = n_flood
            cpu_started = time.process_time()
            published_s = await _publish_from_child(server.url, "flood", n_flood)
            await asyncio.wait_for(reached.wait(), 600)
            flood_cpu_s = time.process_time() - cpu_started
            flood_append_cpu_s = append_cpu[0]
            first_stored = min(m.metadata.timestamp.timestamp() for _, msgs in commits for m in msgs)
            flood_s = commits[-1][0] - first_stored  # the pipeline: first stored in the stream → last committed

            # paced: latency from storage in the stream to the DuckDB commit
            commits.clear()
            reached.clear()
            n_paced = int(paced_rate * paced_s)
            target = n_flood + n_paced
            await _publish_from_child(server.url, "paced", n_paced, paced_rate)
            await asyncio.wait_for(reached.wait(), 600)
            latencies = [t - msg.metadata.timestamp.timestamp() for t, msgs in commits for msg in msgs]
            logged = scheduler.event_log.count()
        finally:
            await scheduler.stop()
    lat = stats(latencies)
    return [
        "### Ingest from JetStream into DuckDB (the real scheduler)",
        "",
        f"- Flood: {n_flood:,} JobSubmitted published by another process in {published_s:.2f} s (publish_async, "
        f"500 in flight); from the first stored in the stream to the last committed in DuckDB: {flood_s:.2f} s → "
        f"**{n_flood / flood_s:,.0f} events/s sustained** (target ≥ 8,000). The scheduler process used "
        f"{flood_cpu_s:.2f} CPU-s for them ({n_flood / flood_cpu_s:,.0f} events per CPU-second; the gap to the "
        f"wall rate is time spent waiting for the CPU or the disk), of which {flood_append_cpu_s:.2f} CPU-s "
        f"({flood_append_cpu_s / n_flood * 1e6:.1f} µs per event) in `EventLog.append`'s own thread (DuckDB's worker "
        f"threads not included). Rows logged: {logged:,}.",
        f"- Paced: {n_paced:,} JobProgressed at {paced_rate:,}/s from another process; latency from the stream's "
        "storage timestamp to the DuckDB commit of their batch (publish → queryable):",
        "",
        STATS_HEADER,
        STATS_RULE,
        lat.row("stored in stream → committed in DuckDB (target p99 ≤ 250 ms)"),
        stats(floor).row("raw floor: JetStream publish + ack round trip"),
        "",
    ]


def _meter_appends(log: EventLog) -> list[float]:
    """Count the CPU time of the thread that runs each `log.append` (the scheduler calls it in a worker thread)."""
    spent = [0.0]
    append = log.append

    def metered(records: Sequence[LogRecord]) -> list[bool]:
        started = time.thread_time()
        try:
            return append(records)
        finally:
            spent[0] += time.thread_time() - started

    log.append = metered  # type: ignore[method-assign]
    return spent


# ---------------------------------------------------------------------------------------------------- replay


def bench_replay(tmp: Path, n_events: int) -> list[str]:
    path = tmp / "replay.duckdb"
    records = _records(n_events)
    log = EventLog(path)
    started = time.perf_counter()
    for k in range(0, n_events, 10_000):
        log.append(records[k : k + 10_000])
    write_s = time.perf_counter() - started
    log.close()
    del records
    gc.collect()
    started = time.perf_counter()
    state = replay(path)
    replay_s = time.perf_counter() - started
    done = sum(1 for j in state.jobs.values() if j.state.terminal)
    size_mib = path.stat().st_size / 2**20
    return [
        "### Replay",
        "",
        f"{n_events:,} events ({len(state.jobs):,} jobs, {done:,} succeeded) bulk-written to a fresh file in "
        f"{write_s:.1f} s ({size_mib:.0f} MiB); `replay()` from zero: **{replay_s:.1f} s** "
        f"({n_events / replay_s:,.0f} events/s; target for 1M: < 120 s).",
        "",
    ]


# ---------------------------------------------------------------------------------------------------- memory


def bench_memory(n_jobs: int) -> list[str]:
    events = [
        ev.JobSubmitted(job_id=f"queued-{i:08d}", workflow=WORKFLOW, occurred_at=T0 + timedelta(milliseconds=i))
        for i in range(n_jobs)
    ]
    payloads = [e.model_dump_json() for e in events]
    del events
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    state = SchedulerState()
    for payload in payloads:
        apply(state, ev.parse_event(payload))
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert state.queued_count() == n_jobs
    per_1000 = (after - before) / n_jobs * 1000
    return [
        "### Scheduler memory",
        "",
        f"{n_jobs:,} queued jobs folded under tracemalloc: {(after - before) / 2**20:.1f} MiB kept → "
        f"**{per_1000 / 1024:.0f} KiB per 1,000 queued jobs** (target ≤ 1 MiB); workflows stay in the log.",
        "",
    ]


def run(quick: bool = False) -> str:
    n_bulk, n_slow = (50_000, 300) if quick else (300_000, 2_000)
    n_flood, paced_rate, paced_s = (10_000, 1_000, 2.0) if quick else (50_000, 2_000, 5.0)
    n_replay = 100_000 if quick else 1_000_000
    n_memory = 20_000 if quick else 100_000
    lines = ["## Event log (scheduler)", "", f"Load averages (1, 5, 15 min) at the start: {_load()}.", ""]
    with tempfile.TemporaryDirectory(prefix="bench-eventlog-") as tmp_dir:
        tmp = Path(tmp_dir)
        lines += bench_write_stage(tmp, n_bulk, n_slow)
        lines += asyncio.run(bench_ingest(tmp, n_flood, paced_rate, paced_s))
        lines += bench_replay(tmp, n_replay)
    lines += bench_memory(n_memory)
    lines += [f"Load averages at the end: {_load()}.", ""]
    return "\n".join(lines)


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    if sys.argv[1:2] == ["--publish"]:
        url, mode, count, rate = sys.argv[2:6]
        asyncio.run(_publisher(url, mode, int(count), int(rate)))
    else:
        print(run(quick="--quick" in sys.argv[1:]))
