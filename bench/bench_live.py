"""Live-stream benchmark (issue 6): progress from the backends to browser-like websocket clients of `/api/live`.

A real nats-server and a real `orch api` process. This process plays the agents of `backends` backends and
publishes exactly what agents publish: per backend, one job after another, each with its durable lifecycle
events in JetStream (JobSubmitted, JobScheduled, JobStarted … JobSucceeded) and, while it runs, `LiveProgress`
on its live subject `progress_hz` times a second (`sent_at` = `time.time()` just before the publish), plus
`BackendMetrics` once a second. `clients` websocket clients (the `websockets` library, as a browser's socket
would: permessage-deflate on, one JSON text message at a time) read `/api/live` for `duration_s`.

Measured, all in one run:

- latency of progress: `sent_at` → receipt by a client; this is the age of the value a client sees, so it
  includes the wait of the per-job rate limit (a value may sit in its slot until the job's next turn);
- latency of metrics (1 Hz per backend, never rate-limited): `at` → receipt, the path without that wait;
- latency of terminal states: the bench's clock just before publishing JobSucceeded → receipt of the job
  message in state `succeeded` (JetStream → the hub's ordered consumer → fold → outbox → websocket);
- updates per job per second delivered (progress + state messages, which share the per-job rate key), and
  every terminal state published counted at every client;
- backlog: progress latency per tenth of the run (flat = no backlog), and the API's RSS sampled throughout;
- raw floors in the same run: core NATS publish → subscriber callback, and a loopback websocket send → receive.

Run: ``python -m bench.bench_live [--quick]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import websockets
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from bench.common import STATS_HEADER, STATS_RULE, rss_mib, stats, tiny_workflow
from orch_common.contracts import subjects
from orch_common.contracts.events import EventBase, JobScheduled, JobStarted, JobSubmitted, JobSucceeded
from orch_common.contracts.live import BackendMetrics, GpuMetrics, LiveProgress
from tests.helpers.stack import Stack

__all__ = ["FULL", "QUICK", "LiveResult", "measure_live", "run"]

_SLICES = 10


@dataclass
class Client:
    """One browser-like websocket client and what it saw."""

    progress: list[tuple[float, float]] = field(default_factory=list)  # (received at, latency)
    metrics: list[float] = field(default_factory=list)
    terminal: dict[str, float] = field(default_factory=dict)  # job id → received at
    first_state: dict[str, float] = field(default_factory=dict)  # job id → its first job message received at
    per_job_second: Counter[tuple[str, int]] = field(default_factory=Counter)
    job_span: dict[str, tuple[float, float, int]] = field(default_factory=dict)  # first, last receipt, count
    messages: int = 0
    errors: list[str] = field(default_factory=list)

    async def read(self, url: str, stop: asyncio.Event, ready: asyncio.Event) -> None:
        try:
            async with websockets.connect(url, max_size=None) as ws:
                json.loads(await ws.recv())  # the snapshot
                ready.set()
                while not stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), 0.5)
                    except TimeoutError:
                        continue
                    self._take(json.loads(raw), time.time())
        except Exception as exc:  # reported in the section, the other clients go on
            self.errors.append(repr(exc))
            ready.set()

    def _count(self, job_id: str, now: float) -> None:
        self.per_job_second[(job_id, int(now))] += 1
        first, _, count = self.job_span.get(job_id, (now, now, 0))
        self.job_span[job_id] = (first, now, count + 1)

    def _take(self, message: dict[str, Any], now: float) -> None:
        self.messages += 1
        kind = message.get("type")
        if kind == "progress":
            self.progress.append((now, now - float(message["sent_at"])))
            self._count(message["job_id"], now)
        elif kind == "job":
            job = message["job"]
            self._count(job["id"], now)
            self.first_state.setdefault(job["id"], now)
            if job["state"] == "succeeded":
                self.terminal.setdefault(job["id"], now)
        elif kind == "metrics":
            self.metrics.append(now - datetime.fromisoformat(message["at"]).timestamp())


@dataclass
class Fleet:
    """Plays the agents: lifecycle events, progress at `progress_hz`, metrics at 1 Hz."""

    nc: NatsClient
    js: JetStreamContext
    backends: int
    progress_hz: float
    job_seconds: float
    terminal_published: dict[str, float] = field(default_factory=dict)
    submitted_published: dict[str, float] = field(default_factory=dict)
    progress_sent: int = 0
    late_ticks: int = 0
    running: dict[str, tuple[str, float]] = field(default_factory=dict)  # backend → (job id, progress)

    async def _event(self, event: EventBase) -> None:
        await self.js.publish(event.subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.event_id})

    async def backend(self, backend_id: str, stop: asyncio.Event) -> None:
        interval = 1.0 / self.progress_hz
        steps = max(1, round(self.job_seconds * self.progress_hz))
        while not stop.is_set():
            job_id, prompt_id = uuid.uuid4().hex, str(uuid.uuid4())
            self.submitted_published[job_id] = time.time()
            await self._event(JobSubmitted(job_id=job_id, workflow=tiny_workflow(job_id)))
            await self._event(JobScheduled(job_id=job_id, attempt=1, backend_id=backend_id, prompt_id=prompt_id))
            await self._event(JobStarted(job_id=job_id, attempt=1, backend_id=backend_id, prompt_id=prompt_id))
            started = time.monotonic()
            for step in range(1, steps + 1):
                delay = started + step * interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    self.late_ticks += 1
                self.running[backend_id] = (job_id, step / steps)
                progress = LiveProgress(
                    job_id=job_id,
                    attempt=1,
                    backend_id=backend_id,
                    prompt_id=prompt_id,
                    node_id="3",
                    value=step,
                    max=steps,
                    nodes={"3": {"value": step, "max": steps, "state": "running", "node_id": "3"}},
                    sent_at=time.time(),
                )
                await self.nc.publish(subjects.live_job(job_id, "progress"), progress.model_dump_json().encode())
                self.progress_sent += 1
            self.terminal_published[job_id] = time.time()
            await self._event(JobSucceeded(job_id=job_id, attempt=1, backend_id=backend_id))
            self.running.pop(backend_id, None)

    async def metrics(self, backend_ids: list[str], stop: asyncio.Event) -> None:
        started = time.monotonic()
        tick = 0
        while not stop.is_set():
            for backend_id in backend_ids:
                job_id, progress = self.running.get(backend_id, (None, None))
                metrics = BackendMetrics(
                    backend_id=backend_id,
                    at=datetime.now(UTC),
                    reachable=True,
                    queue_remaining=1 if job_id else 0,
                    running_job_id=job_id,
                    running_node="3" if job_id else None,
                    progress=progress,
                    gpus=[
                        GpuMetrics(
                            name="Simulated GPU",
                            utilization=97.0,
                            vram_used=8 * 2**30,
                            vram_total=24 * 2**30,
                            temperature=71.0,
                        )
                    ],
                )
                await self.nc.publish(subjects.live_backend_metrics(backend_id), metrics.model_dump_json().encode())
            tick += 1
            await asyncio.sleep(max(0.0, started + tick - time.monotonic()))


@dataclass
class LiveResult:
    duration_s: float
    backends: int
    progress_hz: float
    clients: list[Client]
    fleet: Fleet
    rss: list[tuple[float, float]]
    nats_floor: list[float]
    ws_floor: list[float]
    terminal_latency: list[float]
    first_state_latency: list[float]
    page: list[dict[str, float]] | None = None  # the canvas page's samples (soak.mjs), None when not measured
    page_note: str = ""


SOAK = Path(__file__).resolve().parents[1] / "services" / "ui" / "e2e" / "soak.mjs"


def _page_missing() -> str:
    """Why the canvas page cannot be measured here ('' when it can)."""
    ui = SOAK.parents[1]
    chromium = Path(os.environ.get("ORCH_CHROMIUM", "/usr/bin/chromium"))
    for what, ok in (
        ("node", shutil.which("node") is not None),
        ("services/ui/node_modules", (ui / "node_modules").is_dir()),
        ("the UI build (services/ui/dist)", (ui / "dist" / "index.html").is_file()),
        (str(chromium), chromium.exists()),
    ):
        if not ok:
            return f"not measured: {what} is missing (`make install install-browser`)"
    return ""


async def measure_live(
    duration_s: float, *, clients: int, backends: int = 10, progress_hz: float = 30.0, job_seconds: float = 3.0
) -> LiveResult:
    with tempfile.TemporaryDirectory(prefix="orch-bench-live-") as tmp:
        async with Stack(Path(tmp), scheduler=False) as stack:
            nats_floor = await core_nats_floor(stack.nats.url, 2000)
            ws_floor = await websocket_floor(2000)
            nc = await nats.connect(stack.nats.url)
            fleet = Fleet(nc, nc.jetstream(), backends, progress_hz, job_seconds)
            api = stack.procs["api"].popen
            assert api is not None
            stop_clients, stop_fleet = asyncio.Event(), asyncio.Event()
            readers = [Client() for _ in range(clients)]
            url = stack.api_url.replace("http://", "ws://") + "/api/live"
            ready = [asyncio.Event() for _ in readers]
            reading = [asyncio.create_task(c.read(url, stop_clients, r)) for c, r in zip(readers, ready, strict=True)]
            await asyncio.gather(*(r.wait() for r in ready))
            ids = [f"bench-{i}" for i in range(1, backends + 1)]
            playing = [asyncio.create_task(fleet.backend(b, stop_fleet)) for b in ids]
            playing.append(asyncio.create_task(fleet.metrics(ids, stop_fleet)))
            page_note = _page_missing()
            page_out = Path(tmp) / "page.json"
            soak = None
            if not page_note:
                every = max(1.0, duration_s / 60)
                soak = await asyncio.create_subprocess_exec(
                    "node",
                    str(SOAK),
                    stack.api_url + "/",
                    str(duration_s - every),
                    f"{every:g}",
                    str(page_out),
                    cwd=SOAK.parents[1],
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                )
            rss: list[tuple[float, float]] = []
            started = time.monotonic()
            while (elapsed := time.monotonic() - started) < duration_s:
                rss.append((elapsed, rss_mib(api.pid)))
                await asyncio.sleep(min(2.0, duration_s / 20))
            page: list[dict[str, float]] | None = None
            if soak is not None:
                output, _ = await asyncio.wait_for(soak.communicate(), 120)
                if soak.returncode == 0 and page_out.is_file():
                    page = json.loads(page_out.read_text())
                else:
                    page_note = f"not measured: soak.mjs failed ({output.decode(errors='replace')[-300:]!r})"
            stop_fleet.set()
            await asyncio.gather(*playing)
            await asyncio.sleep(1.5)  # the last terminal states: at most 1/rate later, plus transport
            stop_clients.set()
            await asyncio.gather(*reading)
            with contextlib.suppress(Exception):
                await nc.close()
    terminal_latency = [
        at - fleet.terminal_published[job_id]
        for c in readers
        for job_id, at in c.terminal.items()
        if job_id in fleet.terminal_published
    ]
    first_state_latency = [
        at - fleet.submitted_published[job_id]
        for c in readers
        for job_id, at in c.first_state.items()
        if job_id in fleet.submitted_published
    ]
    return LiveResult(
        duration_s,
        backends,
        progress_hz,
        readers,
        fleet,
        rss,
        nats_floor,
        ws_floor,
        terminal_latency,
        first_state_latency,
        page,
        page_note,
    )


async def core_nats_floor(nats_url: str, n: int) -> list[float]:
    """Core NATS publish → subscriber callback, on loopback, paced at 1 kHz."""
    nc = await nats.connect(nats_url)
    samples: list[float] = []
    done = asyncio.Event()

    async def on_msg(msg: Any) -> None:
        samples.append(time.time() - float(msg.data))
        if len(samples) >= n:
            done.set()

    try:
        subject = subjects.live_backend_metrics("bench-floor")
        sub = await nc.subscribe(subject, cb=on_msg)
        await nc.flush()
        for _ in range(n):
            await nc.publish(subject, repr(time.time()).encode())
            await asyncio.sleep(0.001)
        await asyncio.wait_for(done.wait(), 10)
        await sub.unsubscribe()
    finally:
        await nc.close()
    return samples


async def websocket_floor(n: int) -> list[float]:
    """A loopback websocket (the `websockets` library on both ends): send → receive, paced at 1 kHz."""
    samples: list[float] = []
    done = asyncio.Event()

    async def handler(ws: Any) -> None:
        async for raw in ws:
            samples.append(time.time() - float(raw))
            if len(samples) >= n:
                done.set()

    async with websockets.serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}") as ws:
            for _ in range(n):
                await ws.send(repr(time.time()))
                await asyncio.sleep(0.001)
            await asyncio.wait_for(done.wait(), 10)
    return samples


def _page_rows(r: LiveResult) -> list[str]:
    """The canvas page in chromium, open on the same stream: retained heap, DOM size, timer lag."""
    if not r.page:
        return [f"| canvas page in chromium | {r.page_note or 'not measured'} |"]
    warm = [s for s in r.page if s["t"] >= r.duration_s / 10] or r.page
    heap = [(s["t"], s["heap"] / 2**20) for s in warm]
    lags = [s["lag"] for s in r.page]
    return [
        f"| canvas page: JS heap after GC, after 10% of the run → at the end | {heap[0][1]:.1f} → {heap[-1][1]:.1f} "
        f"MiB (slope {_slope_per_min(heap):+.2f} MiB/min, max {max(v for _, v in heap):.1f}; {len(r.page)} samples) |",
        f"| canvas page: DOM nodes, event listeners (after 10% → end) | {warm[0]['nodes']:.0f} → "
        f"{warm[-1]['nodes']:.0f}, {warm[0]['listeners']:.0f} → {warm[-1]['listeners']:.0f} |",
        f"| canvas page: a 0 ms timer fires after (median, max) | {statistics.median(lags):.1f} ms, "
        f"{max(lags):.1f} ms |",
    ]


def _slope_per_min(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return float("nan")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return float(statistics.linear_regression(xs, ys).slope * 60)


def live_section(r: LiveResult) -> str:
    progress = [lat for c in r.clients for _, lat in c.progress]
    metrics = [lat for c in r.clients for lat in c.metrics]
    p, m, t = stats(progress), stats(metrics), stats(r.terminal_latency)
    f = stats(r.first_state_latency)
    nf, wf = stats(r.nats_floor), stats(r.ws_floor)
    floor = nf.p50 + wf.p50
    published = set(r.fleet.terminal_published)
    missing = [len(published - set(c.terminal)) for c in r.clients]
    buckets: list[int] = [n for c in r.clients for n in c.per_job_second.values()]
    over = sum(1 for n in buckets if n > 10)
    per_job_rate = _mean_rate(r)
    slices = _latency_slices(r)
    warm = [pt for pt in r.rss if pt[0] >= r.duration_s * 0.1]
    rss_first, rss_last = (warm[0][1], warm[-1][1]) if warm else (float("nan"), float("nan"))
    errors = [e for c in r.clients for e in c.errors]
    lines = [
        "## Live stream (issue 6): backends → `/api/live` websocket clients",
        "",
        f"{r.backends} simulated backends each sending {r.progress_hz:g} progress messages/s plus 1 Hz metrics, "
        f"{len(r.clients)} websocket clients, {r.duration_s:.0f} s; {len(published)} jobs ran to `succeeded`, "
        f"{r.fleet.progress_sent} progress messages published ({r.fleet.late_ticks} ticks late on this loaded "
        f"machine), {sum(c.messages for c in r.clients)} messages received in all. "
        "Targets: p50 ≤ 15 ms, p99 ≤ 50 ms; ≤ 10 updates per job per second; no terminal state dropped; no "
        "growing backlog; flat memory.",
        "",
        STATS_HEADER + " vs floor p50 |",
        STATS_RULE + " ---: |",
        p.row("progress `sent_at` → client (age of the value seen, rate-limit wait included)", f"{p.p50 / floor:.1f}×"),
        m.row("metrics `at` → client (1 Hz per backend: never waits for the rate limit)", f"{m.p50 / floor:.1f}×"),
        f.row("a job's first state: JobSubmitted published → client (JetStream path)", f"{f.p50 / floor:.1f}×"),
        t.row("terminal state: JobSucceeded published → client (rate-limit wait included)", f"{t.p50 / floor:.1f}×"),
        nf.row("floor: core NATS publish → subscriber (nats-py)", "—"),
        wf.row("floor: loopback websocket send → receive (websockets)", "—"),
        "",
        "| measure | value |",
        "| --- | ---: |",
        f"| updates per job per second, mean over a job's life (progress + state, one rate key) | {per_job_rate:.2f} |",
        f"| (job, wall-clock second) buckets above 10 updates | {over} of {len(buckets)} "
        f"(max {max(buckets, default=0)}) |",
        f"| terminal states missing per client (of {len(published)}) | {missing} |",
        f"| progress latency p50 per tenth of the run, ms | {' '.join(f'{s * 1000:.1f}' for s in slices)} |",
        f"| API RSS after 10% of the run → at the end | {rss_first:.1f} → {rss_last:.1f} MiB "
        f"(slope {_slope_per_min(warm):+.2f} MiB/min, max {max((v for _, v in r.rss), default=float('nan')):.1f}) |",
        f"| API RSS at the end of each tenth of the run, MiB | {' '.join(f'{v:.1f}' for v in _rss_tenths(r))} |",
        f"| client errors | {errors[:3] or 'none'} |",
        *_page_rows(r),
        "",
        f"The ratio compares with the sum of the two floors' medians ({floor * 1000:.2f} ms). Progress arrives "
        f"at {r.progress_hz:g}/s per job and leaves at ≤ 10/s (last value wins), so a delivered value has waited "
        "in its slot for up to one inter-arrival time (33 ms at 30/s) before the job's next turn: that wait, not "
        "transport, is most of the progress latency; the metrics row shows the path without it. A terminal state "
        "shares its job's rate key with the progress just sent, so it too waits up to 100 ms for the job's next "
        "turn; a job's first state (no wait) shows the JetStream path of state messages.",
        "",
    ]
    return "\n".join(lines)


def _mean_rate(r: LiveResult) -> float:
    """Per client and job: (messages − 1) / (last − first receipt), averaged over jobs followed ≥ 1 s."""
    rates = [
        (count - 1) / (last - first)
        for c in r.clients
        for first, last, count in c.job_span.values()
        if last - first >= 1.0
    ]
    return statistics.fmean(rates) if rates else float("nan")


def _rss_tenths(r: LiveResult) -> list[float]:
    """The last RSS sample in each tenth of the run (the shape of the curve: growing, or levelling off)."""
    tenths: dict[int, float] = {}
    for elapsed, mib in r.rss:
        tenths[min(_SLICES - 1, int(elapsed / r.duration_s * _SLICES))] = mib
    return [tenths[k] for k in sorted(tenths)]


def _latency_slices(r: LiveResult) -> list[float]:
    samples = sorted((at, lat) for c in r.clients for at, lat in c.progress)
    if not samples:
        return []
    t0, t1 = samples[0][0], samples[-1][0]
    width = (t1 - t0) / _SLICES or 1.0
    slices: list[list[float]] = [[] for _ in range(_SLICES)]
    for at, lat in samples:
        slices[min(_SLICES - 1, int((at - t0) / width))].append(lat)
    return [statistics.median(s) if s else float("nan") for s in slices]


QUICK: dict[str, Any] = {"duration_s": 20.0, "clients": 3}
FULL: dict[str, Any] = {"duration_s": 600.0, "clients": 10}


def run(quick: bool = False) -> str:
    """The live benchmark: `QUICK` (20 s, 3 clients) or `FULL` (10 minutes, 10 clients)."""
    return live_section(asyncio.run(measure_live(**(QUICK if quick else FULL))))


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
