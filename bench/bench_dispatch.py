"""Job-path benchmarks (issue 3 §8): dispatch latency and throughput on real processes.

Dispatch latency: from the scheduler's decision to the prompt accepted by the ComfyUI (`orch sim`), over many
tiny jobs submitted through the API with a few in flight at a time. Both ends are event timestamps taken on the
same machine clock, so nothing in the services is changed to measure it:

- start, the decision: `JobScheduled.occurred_at` (the scheduler's clock when `decide` ran, just before the
  event is published); also reported from the moment JetStream stored it (the stream's own timestamp);
- end, the prompt accepted: `JobStarted.occurred_at`, created by the agent right after the sim's 200 to
  `POST /prompt` (before its own publish, so the publish of JobStarted is not counted).

Side by side, in the same run: a JetStream publish + ack round trip and a bare `POST /prompt` to a sim.

Throughput: N tiny jobs (EmptyImage 8×8 → PreviewImage) on M sims through the API, every lifecycle event in
JetStream and in the DuckDB log; wall time from the first submission to the last terminal event, then a check
that every job succeeded and that the log holds as many events as the stream. Each part's CPU seconds (psutil)
over the run, divided by the jobs, say where the CPU goes per job. Runs side by side (`Variant`), each on
its own fresh stack at the scheduler's defaults unless said: one `POST /api/jobs` per job; `POST /api/jobs/batch`
with 100 jobs per request; the same with the adaptive queue depth off (`ORCH_SCHEDULER_QUEUE_AHEAD_S=0`: never
more than `max_inflight_per_backend` prompts per server). Beside them, the floor with no plumbing: the same jobs
on fresh sims driven by the scheduler's own `decide` in this process (`bench.no_plumbing`), no NATS, event log,
agents or API.

Run: ``python -m bench.bench_dispatch [--quick]``; one throughput run only:
``python -m bench.bench_dispatch --jobs 2000 --backends 10 --batch 100 [--max-inflight 16] [--fixed-depth]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx
import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from bench.common import (
    CPU_ROLES,
    STATS_HEADER,
    STATS_RULE,
    bench_stack,
    cpu_by_role,
    jetstream_floor,
    post_prompt_floor,
    rss_mib,
    stats,
    tiny_workflow,
    wait_http,
)
from bench.no_plumbing import fleet_state, run_with_policy
from orch_common.contracts import events as ev
from orch_common.contracts import subjects
from orch_scheduler.domain.fold import apply
from orch_scheduler.settings import SchedulerSettings
from tests.helpers.stack import Stack

__all__ = ["FULL", "QUICK", "measure_dispatch", "measure_throughput", "run"]

_TERMINAL = ("succeeded", "failed", "cancelled")
_WATCHED = frozenset({"scheduled", "started", *_TERMINAL})


@dataclass
class JobWatch:
    """Job events seen on core NATS (JetStream publishes reach plain subscribers too), first occurrence wins."""

    scheduled: dict[str, datetime] = field(default_factory=dict)
    commanded: dict[str, datetime] = field(default_factory=dict)  # RunJob received here (our clock)
    started: dict[str, datetime] = field(default_factory=dict)
    terminal: dict[str, str] = field(default_factory=dict)
    last_terminal_at: float = 0.0
    done: dict[str, asyncio.Event] = field(default_factory=dict)
    all_done: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int = 0

    async def on_command(self, msg: Msg) -> None:
        at = datetime.now(UTC)
        if msg.subject.endswith(".run"):
            self.commanded.setdefault(json.loads(msg.data)["job_id"], at)

    async def on_msg(self, msg: Msg) -> None:
        kind = msg.subject.rsplit(".", 1)[1]
        if kind not in _WATCHED or ".evt.job." not in msg.subject:
            return
        data = json.loads(msg.data)
        job_id = data["job_id"]
        if kind == "scheduled":
            self.scheduled.setdefault(job_id, datetime.fromisoformat(data["occurred_at"]))
        elif kind == "started":
            self.started.setdefault(job_id, datetime.fromisoformat(data["occurred_at"]))
        elif kind in _TERMINAL and job_id not in self.terminal:
            self.terminal[job_id] = kind
            self.last_terminal_at = time.perf_counter()
            event = self.done.get(job_id)
            if event is not None:
                event.set()
            if self.expected and len(self.terminal) >= self.expected:
                self.all_done.set()


async def _watch(nc: NatsClient, watch: JobWatch) -> list[Any]:
    return [
        await nc.subscribe(subjects.all_events(), cb=watch.on_msg),
        await nc.subscribe(subjects.all_backend_commands(), cb=watch.on_command),
    ]


async def _watch_terminal(nc: NatsClient, watch: JobWatch) -> list[Any]:
    """Only the terminal events: an observer that adds as little as possible to the load it measures."""
    return [await nc.subscribe(subjects.every_job_event(kind), cb=watch.on_msg) for kind in _TERMINAL]


async def _stored_at(nats_url: str, what: str) -> dict[str, datetime]:
    """job id → JetStream's stored timestamp of its first `what` event (the stream read back, ordered)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        total = (await js.stream_info(subjects.EVENTS_STREAM)).state.messages
        sub = await js.subscribe(
            subjects.all_events(),
            ordered_consumer=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
            stream=subjects.EVENTS_STREAM,
        )
        out: dict[str, datetime] = {}
        for _ in range(total):
            msg = await sub.next_msg(timeout=10)
            parts = msg.subject.split(".")
            if parts[2:4] == ["evt", "job"] and parts[-1] == what:
                out.setdefault(parts[4], msg.metadata.timestamp)
        await sub.unsubscribe()
        return out
    finally:
        await nc.close()


async def _submit(http: httpx.AsyncClient, workflow: dict[str, Any]) -> str:
    for attempt in range(5):
        try:
            response = await http.post("/api/jobs", json={"workflow": workflow})
        except httpx.TransportError:
            if attempt == 4:
                raise
            await asyncio.sleep(0.2)
            continue
        if response.status_code == 202:
            return str(response.json()["id"])
        raise RuntimeError(f"submission refused: {response.status_code} {response.text[:200]}")
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------------------------- dispatch


@dataclass
class DispatchResult:
    decision_to_accepted: list[float]
    stored_to_accepted: list[float]
    decision_to_stored: list[float]
    stored_to_command: list[float]
    command_to_accepted: list[float]
    jetstream_floor: list[float]
    post_prompt_floor: list[float]
    jobs: int
    states: Counter[str]
    in_flight: int
    backends: int
    wall_s: float


async def measure_dispatch(jobs: int, *, backends: int = 3, in_flight: int = 3, floors: int = 1000) -> DispatchResult:
    """Submit `jobs` tiny jobs keeping `in_flight` of them unfinished at a time; measure each job's dispatch."""
    async with bench_stack(backends, spare_sim=True) as stack:
        js_floor = await jetstream_floor(stack.nats.url, floors)
        prompt_floor = await post_prompt_floor(stack.procs["floor"].extra["url"], floors)
        watch = JobWatch()
        nc = await nats.connect(stack.nats.url)
        subs = await _watch(nc, watch)
        limit = asyncio.Semaphore(in_flight)
        started = time.perf_counter()
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as http:

            async def one(i: int) -> None:
                async with limit:
                    done = asyncio.Event()
                    job_id = await _submit(http, tiny_workflow(i))
                    watch.done[job_id] = done
                    if job_id in watch.terminal:
                        return
                    await asyncio.wait_for(done.wait(), 120)

            await asyncio.gather(*(one(i) for i in range(jobs)))
        wall = time.perf_counter() - started
        for sub in subs:
            await sub.unsubscribe()
        await nc.close()
        stored = await _stored_at(stack.nats.url, "scheduled")
    decision = [(watch.started[j] - watch.scheduled[j]).total_seconds() for j in watch.started if j in watch.scheduled]
    from_store = [(watch.started[j] - stored[j]).total_seconds() for j in watch.started if j in stored]
    return DispatchResult(
        decision,
        from_store,
        _deltas(watch.scheduled, stored),
        _deltas(stored, watch.commanded),
        _deltas(watch.commanded, watch.started),
        js_floor,
        prompt_floor,
        jobs,
        Counter(watch.terminal.values()),
        in_flight,
        backends,
        wall,
    )


def _deltas(first: dict[str, datetime], then: dict[str, datetime]) -> list[float]:
    return [(then[j] - first[j]).total_seconds() for j in then if j in first]


def dispatch_section(r: DispatchResult) -> str:
    d, s = stats(r.decision_to_accepted), stats(r.stored_to_accepted)
    jf, pf = stats(r.jetstream_floor), stats(r.post_prompt_floor)
    floor_sum = jf.p50 + pf.p50
    lines = [
        "### Dispatch latency (scheduler decision → prompt accepted by the ComfyUI)",
        "",
        f"{r.jobs} tiny jobs through the API, {r.in_flight} unfinished at a time, on {r.backends} `orch sim` servers "
        f"with their agents ({r.wall_s:.1f} s; terminal states: {dict(r.states)}). Targets: p50 ≤ 5 ms, p99 ≤ 20 ms.",
        "",
        STATS_HEADER + " vs floor p50 |",
        STATS_RULE + " ---: |",
        d.row("decision (`JobScheduled.occurred_at`) → 200 (`JobStarted.occurred_at`)", f"{d.p50 / floor_sum:.1f}×"),
        s.row("JobScheduled stored by JetStream → 200", f"{s.p50 / floor_sum:.1f}×"),
        stats(r.decision_to_stored).row("… part 1: decision → JobScheduled stored by JetStream", "—"),
        stats(r.stored_to_command).row("… part 2: stored → RunJob seen by a bench subscriber", "—"),
        stats(r.command_to_accepted).row("… part 3: RunJob seen → 200 at the agent", "—"),
        jf.row("floor: JetStream publish + ack (nats-py)", "—"),
        pf.row("floor: bare `POST /prompt` to a sim (httpx)", "—"),
        "",
        f"The ratio compares with the sum of the two floors' medians ({floor_sum * 1000:.2f} ms). The path in "
        "between is: the JobScheduled publish + ack (the scheduler folds it then; the DuckDB append of a round's "
        "decisions comes after their commands), the JobSubmitted payload (kept in memory for "
        "recent jobs, else read back from DuckDB), the RunJob publish + ack into ORCH_COMMANDS, the agent's pull of "
        "it, then `POST /prompt` (the agent asks `GET /queue` and `GET /history/{id}` first only for a redelivered "
        "command or one stored before it started, so such a command is not run twice). So the floor of this path is "
        "about 2 publishes + 1 HTTP round trip, plus a NATS delivery.",
        "",
        "Timestamps: `JobScheduled.occurred_at` is the `now` handed to `decide`, taken before the first publish of "
        "the round, so when one round places several jobs the later ones also carry the earlier ones' publishes "
        "(the second row starts instead at JetStream's own timestamp of the stored event). `JobStarted.occurred_at` "
        "is taken when the agent builds the event right after the 200, before its publish. Part 2/3 split at the "
        "moment this benchmark's own subscriber saw the RunJob (its clock, in a loaded process): indicative only.",
        "",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- throughput


MAX_INFLIGHT_ENV = "ORCH_SCHEDULER_MAX_INFLIGHT_PER_BACKEND"
QUEUE_AHEAD_ENV = "ORCH_SCHEDULER_QUEUE_AHEAD_S"
IDLE_WINDOW_S = 2.0


@dataclass(frozen=True)
class Variant:
    """How one throughput run submits and how deep the scheduler queues per backend."""

    batch: int = 0  # 0: one `POST /api/jobs` per job; else `POST /api/jobs/batch` with this many jobs
    max_inflight: int | None = None  # None: the scheduler's default
    submitters: int = 16
    queue_ahead: bool = True  # False: ORCH_SCHEDULER_QUEUE_AHEAD_S=0, never deeper than max_inflight

    @property
    def inflight(self) -> int:
        return self.max_inflight or SchedulerSettings().max_inflight_per_backend

    @property
    def label(self) -> str:
        how = f"batches of {self.batch}" if self.batch else "one job per request"
        depth = SchedulerSettings().max_queue_depth
        deeper = f" (up to {depth} while a server's measured work is short)" if self.queue_ahead else ", fixed"
        return f"{how}, {self.submitters} submitters, ≤ {self.inflight} in flight per backend{deeper}"


@dataclass
class ThroughputResult:
    jobs: int
    backends: int
    variant: Variant
    submit_s: float
    wall_s: float
    states: Counter[str]
    succeeded_in_log: int
    stream_events: int
    log_events: int
    log_distinct: int
    rss_mib: dict[str, float]
    cpu_s: dict[str, float]
    idle_cpu_per_s: dict[str, float]

    @property
    def submitters(self) -> int:
        return self.variant.submitters

    @property
    def rate(self) -> float:
        return self.jobs / self.wall_s if self.wall_s > 0 else float("nan")


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    """Environment for the processes started inside (the stack's children inherit it)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


async def _submit_batch(http: httpx.AsyncClient, workflows: list[dict[str, Any]]) -> list[str]:
    for attempt in range(5):
        try:
            response = await http.post("/api/jobs/batch", json={"jobs": [{"workflow": w} for w in workflows]})
        except httpx.TransportError:
            if attempt == 4:
                raise
            await asyncio.sleep(0.2)
            continue
        if response.status_code == 202:
            return [str(i) for i in response.json()["ids"]]
        raise RuntimeError(f"batch refused: {response.status_code} {response.text[:200]}")
    raise AssertionError("unreachable")


async def measure_throughput(
    jobs: int,
    *,
    backends: int,
    submitters: int = 16,
    batch: int = 0,
    max_inflight: int | None = None,
    queue_ahead: bool = True,
) -> ThroughputResult:
    """`jobs` tiny jobs through the API on `backends` sims; wall time, event counts and CPU seconds per part."""
    variant = Variant(batch=batch, max_inflight=max_inflight, submitters=submitters, queue_ahead=queue_ahead)
    env = {MAX_INFLIGHT_ENV: str(max_inflight)} if max_inflight is not None else {}
    if not queue_ahead:
        env[QUEUE_AHEAD_ENV] = "0"
    with _env(env):
        async with bench_stack(backends) as stack:
            watch = JobWatch(expected=jobs)
            nc = await nats.connect(stack.nats.url)
            subs = await _watch_terminal(nc, watch)
            await asyncio.sleep(1.0)  # let start-up work (registrations, first heartbeats) settle
            idle_before = cpu_by_role(stack)
            await asyncio.sleep(IDLE_WINDOW_S)
            idle_after = cpu_by_role(stack)
            queue: asyncio.Queue[int] = asyncio.Queue()
            for i in range(jobs):
                queue.put_nowait(i)
            cpu_before = cpu_by_role(stack)
            started = time.perf_counter()
            async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as http:

                async def submitter() -> None:
                    while not queue.empty():
                        if batch:
                            take = [queue.get_nowait() for _ in range(min(batch, queue.qsize()))]
                            await _submit_batch(http, [tiny_workflow(i) for i in take])
                        else:
                            await _submit(http, tiny_workflow(queue.get_nowait()))

                await asyncio.gather(*(submitter() for _ in range(submitters)))
                submitted = time.perf_counter() - started
                await asyncio.wait_for(watch.all_done.wait(), timeout=max(120.0, jobs * 0.2))
            wall = watch.last_terminal_at - started
            stream_events = await _settled_stream_count(stack, quiet_s=0.5)
            cpu_after = cpu_by_role(stack)
            rss = _rss(stack)
            for sub in subs:
                await sub.unsubscribe()
            await nc.close()
            stack.procs["scheduler"].stop()
            log_events, log_distinct, succeeded = _log_counts(stack)
    cpu = {role: cpu_after.get(role, 0.0) - cpu_before.get(role, 0.0) for role in CPU_ROLES}
    idle = {role: (idle_after.get(role, 0.0) - idle_before.get(role, 0.0)) / IDLE_WINDOW_S for role in CPU_ROLES}
    return ThroughputResult(
        jobs,
        backends,
        variant,
        submitted,
        wall,
        Counter(watch.terminal.values()),
        succeeded,
        stream_events,
        log_events,
        log_distinct,
        rss,
        cpu,
        idle,
    )


@dataclass
class ThroughputFloor:
    """The same tiny jobs with no plumbing: the scheduler's own `decide` in this process posting to the sims."""

    jobs: int
    backends: int
    wall_s: float
    succeeded: int
    cpu_s: dict[str, float]

    @property
    def rate(self) -> float:
        return self.jobs / self.wall_s if self.wall_s > 0 else float("nan")


async def measure_throughput_floor(jobs: int, *, backends: int) -> ThroughputFloor:
    """`jobs` tiny jobs, all queued at once, on `backends` fresh sims driven by `bench.no_plumbing`: no nats-server
    traffic, event log, agents or API, so what is left is the sims' own work and the prompts' HTTP and websocket
    traffic, with the scheduler's placement and queue depth."""
    with tempfile.TemporaryDirectory(prefix="orch-bench-floor-") as tmp:
        async with Stack(Path(tmp), scheduler=False, api=False) as stack:
            ids = [f"sim-{i}" for i in range(1, backends + 1)]
            urls = {sid: stack.add_sim(sid).extra["url"] for sid in ids}
            for url in urls.values():
                await wait_http(url + "/system_stats")
            workflows = [tiny_workflow(i) for i in range(jobs)]
            now = datetime.now(UTC)
            state = fleet_state(ids, workflows, now)
            queued = [ev.JobSubmitted(job_id=f"j{i:06d}", workflow=w, occurred_at=now) for i, w in enumerate(workflows)]
            for job in queued:
                apply(state, job)
            cpu_before = cpu_by_role(stack)
            run = await run_with_policy(
                urls, state, jobs, policy="smart", queued=queued, timeout=max(120.0, jobs * 0.2)
            )
            cpu_after = cpu_by_role(stack)
    cpu = {role: cpu_after.get(role, 0.0) - cpu_before.get(role, 0.0) for role in CPU_ROLES}
    return ThroughputFloor(jobs, backends, run.makespan, len(run.ended), cpu)


def _rss(stack: Stack) -> dict[str, float]:
    out = {}
    for name, proc in stack.procs.items():
        if proc.popen is not None and proc.alive and (name in ("scheduler", "api") or name.endswith("-1")):
            out[name] = rss_mib(proc.popen.pid)
    return out


async def _settled_stream_count(stack: Stack, quiet_s: float = 1.0) -> int:
    """The stream's message count once it has stopped growing (late events of the last jobs land)."""
    nc = await nats.connect(stack.nats.url)
    try:
        js = nc.jetstream()
        last = -1
        while True:
            count = (await js.stream_info(subjects.EVENTS_STREAM)).state.messages
            if count == last:
                return count
            last = count
            await asyncio.sleep(quiet_s)
    finally:
        await nc.close()


def _log_counts(stack: Stack) -> tuple[int, int, int]:
    con = duckdb.connect(str(stack.db), read_only=True)
    try:
        total, distinct = con.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone() or (0, 0)
        row = con.execute("SELECT count(DISTINCT event_id) FROM events WHERE type = 'job.succeeded'").fetchone()
    finally:
        con.close()
    return int(total), int(distinct), int(row[0] if row else 0)


def throughput_section(results: list[ThroughputResult], floor: ThroughputFloor | None = None) -> str:
    """One column per run (variant), side by side: rates, checks, and CPU milliseconds per job by part; then the
    floor with no plumbing, when measured."""
    first = results[0]
    head = "| measure | " + " | ".join(f"run {i + 1}" for i in range(len(results))) + " |"
    rule = "| --- |" + " ---: |" * len(results)

    def row(label: str, cells: list[str]) -> str:
        return f"| {label} | " + " | ".join(cells) + " |"

    def cpu_ms(r: ThroughputResult, role: str) -> str:
        return f"{r.cpu_s.get(role, 0.0) / r.jobs * 1000:.2f}"

    lines = [
        "### Throughput (tiny jobs through the API, every lifecycle event in JetStream and DuckDB)",
        "",
        f"{first.jobs} jobs (EmptyImage 8×8 → PreviewImage) on {first.backends} `orch sim` servers, each with its "
        "agent. Target: 10,000 jobs on 10 servers in < 20 s (≥ 500 jobs/s). Runs, one stack each, one after "
        "the other:",
        "",
        *(f"{i + 1}. {r.variant.label}" for i, r in enumerate(results)),
        "",
        head,
        rule,
        row("wall time, first submission → last terminal event", [f"{r.wall_s:.2f} s" for r in results]),
        row("jobs/s", [f"{r.rate:.1f}" for r in results]),
        row(f"all {first.jobs} submissions accepted (202) after", [f"{r.submit_s:.2f} s" for r in results]),
        row("terminal states seen", [str(dict(r.states)) for r in results]),
        row(
            "every job succeeded (live events and the log's job.succeeded)",
            [
                f"{'yes' if r.states.get('succeeded', 0) == r.jobs == r.succeeded_in_log else '**NO**'} "
                f"({r.succeeded_in_log} in the log)"
                for r in results
            ],
        ),
        row(
            "events in ORCH_EVENTS / rows in DuckDB / distinct ids",
            [
                f"{r.stream_events} / {r.log_events} / {r.log_distinct} "
                f"({'yes' if r.stream_events == r.log_events == r.log_distinct else '**NO**'})"
                for r in results
            ],
        ),
        *(row(f"CPU ms per job: {role}", [cpu_ms(r, role) for r in results]) for role in CPU_ROLES),
        row("CPU ms per job: all", [f"{sum(r.cpu_s.values()) / r.jobs * 1000:.2f}" for r in results]),
        row(
            "idle CPU ms per second before the run: sims + agents / all",
            [
                f"{(r.idle_cpu_per_s['sims'] + r.idle_cpu_per_s['agents']) * 1000:.0f} / "
                f"{sum(r.idle_cpu_per_s.values()) * 1000:.0f}"
                for r in results
            ],
        ),
        row(
            "CPU cores busy on average (all parts)",
            [f"{sum(r.cpu_s.values()) / r.wall_s:.2f}" if r.wall_s > 0 else "—" for r in results],
        ),
        row(
            "RSS at the end",
            [", ".join(f"{k} {v:.0f} MiB" for k, v in r.rss_mib.items()) for r in results],
        ),
        "",
        f"CPU is each process's user + system time (psutil) from the first submission until the stream stopped "
        f"growing: `sims` and `agents` are summed over the {first.backends} of each; `bench client` is this "
        "benchmark's own process (the HTTP submitters and a subscriber to the terminal events). Idle "
        "background work (heartbeats, per-second metrics) in that window is counted too; its rate, measured over "
        f"{IDLE_WINDOW_S:.0f} s before the first submission, is the idle row. With "
        f"{os.cpu_count()} cores, jobs/s can be no more than cores × 1000 / (CPU ms per job: all).",
        "",
    ]
    if floor is not None:
        best = max(results, key=lambda r: r.rate)
        per_job = {role: floor.cpu_s.get(role, 0.0) / floor.jobs * 1000 for role in CPU_ROLES}
        lines += [
            f"Floor, with no plumbing: the same {floor.jobs} jobs, all queued at once, on {floor.backends} fresh sims "
            "driven by the scheduler's own `decide` (same placement and queue depth) in the benchmark's process, "
            "which posts each decision straight to its sim and folds back what the sims' websockets say "
            "(`bench/no_plumbing.py`): no nats-server traffic, event log, agents or API, so nothing is durable and no "
            "output is copied. "
            f"{floor.wall_s:.2f} s, **{floor.rate:.1f} jobs/s** ({floor.succeeded} succeeded); CPU ms per job: "
            f"sims {per_job['sims']:.2f}, the driving process {per_job['bench client']:.2f}, all "
            f"{sum(per_job.values()):.2f}. The best run above reached {best.rate / floor.rate:.2f}× this floor's "
            "rate.",
            "",
        ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- harness


QUICK: dict[str, Any] = {
    "dispatch": {"jobs": 500, "backends": 3, "in_flight": 3, "floors": 300},
    "throughput": {"jobs": 1000, "backends": 10},
    "throughput_runs": [{}, {"batch": 100}, {"batch": 100, "queue_ahead": False}],
}
FULL: dict[str, Any] = {
    "dispatch": {"jobs": 10_000, "backends": 3, "in_flight": 3, "floors": 2000},
    "throughput": {"jobs": 10_000, "backends": 10},
    "throughput_runs": [{}, {"batch": 100}, {"batch": 100, "queue_ahead": False}],
}


def run(quick: bool = False) -> str:
    """Both measurements in one run (sizes from `QUICK` or `FULL`); a markdown section for docs/benchmarks.md."""
    sizes = QUICK if quick else FULL
    dispatch = asyncio.run(measure_dispatch(**sizes["dispatch"]))
    throughput = [
        asyncio.run(measure_throughput(**sizes["throughput"], **variant))
        for variant in sizes.get("throughput_runs", [{}])
    ]
    floor = asyncio.run(measure_throughput_floor(**sizes["throughput"]))
    sections = [
        "## Job path: dispatch and throughput",
        "",
        dispatch_section(dispatch),
        throughput_section(throughput, floor),
    ]
    return "\n".join(sections)


def _main() -> None:
    parser = argparse.ArgumentParser(description="Job-path benchmarks; with --jobs, only one throughput run.")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--jobs", type=int, default=None, help="only a throughput run of this many jobs")
    parser.add_argument("--backends", type=int, default=10)
    parser.add_argument("--batch", type=int, default=0, help="jobs per POST /api/jobs/batch (0: POST /api/jobs)")
    parser.add_argument("--submitters", type=int, default=16)
    parser.add_argument("--max-inflight", type=int, default=None, help="the scheduler's max_inflight_per_backend")
    parser.add_argument("--fixed-depth", action="store_true", help="no deeper queue for short jobs (queue_ahead_s 0)")
    args = parser.parse_args()
    if args.jobs is None:
        print(run(quick=args.quick))
        return
    result = asyncio.run(
        measure_throughput(
            args.jobs,
            backends=args.backends,
            submitters=args.submitters,
            batch=args.batch,
            max_inflight=args.max_inflight,
            queue_ahead=not args.fixed_depth,
        )
    )
    print(throughput_section([result]))


if __name__ == "__main__":
    _main()
