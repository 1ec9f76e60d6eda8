"""Shared helpers of the job-path and live benchmarks: percentiles, the raw floors, and a real stack to measure.

- `Stats` / `stats`: median, p99 and friends of a list of seconds, formatted in milliseconds;
- `jetstream_floor`: JetStream publish + ack round trips (nats-py) on a throwaway stream of the same storage;
- `post_prompt_floor`: bare `POST /prompt` round trips (httpx) to an `orch sim`;
- `bench_stack`: nats-server + scheduler + api + N sims with their agents, every part a real process
  (`tests.helpers.stack.Stack`), cleaned up on exit;
- `tiny_workflow`: the cheapest model-free prompt (EmptyImage 8×8 → PreviewImage);
- `rss_mib`: resident memory of a process; `cpu_by_role`: CPU seconds so far of each part of a stack.
"""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
import psutil
from nats.js.api import StorageType, StreamConfig

from tests.helpers.stack import Stack

__all__ = [
    "CPU_ROLES",
    "Stats",
    "bench_stack",
    "cpu_by_role",
    "executing_spans",
    "jetstream_floor",
    "percentile",
    "post_prompt_floor",
    "rss_mib",
    "stats",
    "tiny_workflow",
    "wait_http",
]


def percentile(samples: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0..100) by the nearest-rank method; NaN for no samples."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class Stats:
    """Summary of latency samples, in seconds."""

    n: int
    p50: float
    p90: float
    p99: float
    max: float
    mean: float

    def ms(self, key: str) -> str:
        return f"{getattr(self, key) * 1000:.2f}"

    def row(self, label: str, *extra: str) -> str:
        """A markdown table row: label | p50 | p99 | p90 | max | n | extra…"""
        cells = [label, self.ms("p50"), self.ms("p99"), self.ms("p90"), self.ms("max"), str(self.n), *extra]
        return "| " + " | ".join(cells) + " |"


STATS_HEADER = "| measure | p50 ms | p99 ms | p90 ms | max ms | n |"
STATS_RULE = "| --- | ---: | ---: | ---: | ---: | ---: |"


def stats(samples: Sequence[float]) -> Stats:
    if not samples:
        return Stats(0, math.nan, math.nan, math.nan, math.nan, math.nan)
    return Stats(
        n=len(samples),
        p50=statistics.median(samples),
        p90=percentile(samples, 90),
        p99=percentile(samples, 99),
        max=max(samples),
        mean=statistics.fmean(samples),
    )


def tiny_workflow(tag: int | str = 0) -> dict[str, Any]:
    """EmptyImage 8×8 → PreviewImage: no model, one 8×8 temp PNG as the output. `tag` varies the color."""
    color = abs(hash(str(tag))) % 0xFFFFFF
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": color}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }


async def jetstream_floor(nats_url: str, n: int, *, payload: bytes = b"x" * 300) -> list[float]:
    """Round trips of a JetStream publish + ack (with a `Nats-Msg-Id`, like our events) on a file stream."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        name = f"BENCH_FLOOR_{uuid.uuid4().hex[:8]}"
        await js.add_stream(StreamConfig(name=name, subjects=[f"bench.{name}.>"], storage=StorageType.FILE))
        samples = []
        try:
            for i in range(n):
                started = time.perf_counter()
                await js.publish(f"bench.{name}.{i % 16}", payload, headers={"Nats-Msg-Id": f"{name}-{i}"})
                samples.append(time.perf_counter() - started)
        finally:
            await js.delete_stream(name)
        return samples
    finally:
        await nc.close()


async def post_prompt_floor(sim_url: str, n: int) -> list[float]:
    """Round trips of a bare `POST /prompt` of the tiny workflow to a sim (keep-alive connection, like the agent)."""
    samples = []
    async with httpx.AsyncClient(base_url=sim_url, timeout=30) as http:
        for i in range(n):
            body = {"prompt": tiny_workflow(f"floor-{i}"), "client_id": "bench", "prompt_id": str(uuid.uuid4())}
            started = time.perf_counter()
            response = await http.post("/prompt", json=body)
            samples.append(time.perf_counter() - started)
            response.raise_for_status()
    return samples


CPU_ROLES = ("api", "scheduler", "nats-server", "sims", "agents", "bench client")
"""The parts of a bench stack whose CPU `cpu_by_role` reports (`sims` and `agents` summed over all of them)."""


def _role(name: str) -> str:
    if name.startswith("agent-"):
        return "agents"
    if name.startswith("sim-") or name == "floor":
        return "sims"
    return name


def _cpu_seconds(pid: int) -> float:
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


def cpu_by_role(stack: Stack) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each part of the stack, summed per role."""
    out = dict.fromkeys(CPU_ROLES, 0.0)
    for name, proc in stack.procs.items():
        if proc.popen is not None and proc.alive:
            out[_role(name)] = out.get(_role(name), 0.0) + _cpu_seconds(proc.popen.pid)
    if stack.nats.pid is not None:
        out["nats-server"] = _cpu_seconds(stack.nats.pid)
    out["bench client"] = _cpu_seconds(os.getpid())
    return out


def rss_mib(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 2**20


@asynccontextmanager
async def bench_stack(
    backends: int, *sim_options: str, scheduler: bool = True, spare_sim: bool = False
) -> AsyncIterator[Stack]:
    """A running stack with `backends` sims (`sim-1`…) each behind its agent, all online.

    `spare_sim` adds one more sim (`floor`) with no agent, for raw `POST /prompt` floors that no agent sees.
    """
    with tempfile.TemporaryDirectory(prefix="orch-bench-") as tmp:
        async with Stack(Path(tmp), scheduler=scheduler) as stack:
            ids = {f"sim-{i}" for i in range(1, backends + 1)}
            for backend_id in sorted(ids):
                stack.add_agent(backend_id, stack.add_sim(backend_id, *sim_options))
            if spare_sim:
                stack.add_sim("floor", *sim_options)
            await stack.wait_backends(ids, timeout=120)
            if spare_sim:
                await wait_http(stack.procs["floor"].extra["url"] + "/system_stats")
            yield stack


async def wait_http(url: str, timeout: float = 60.0) -> None:
    """Until `url` answers 200."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout}s")
            await asyncio.sleep(0.1)


def executing_spans(runs: Iterable[tuple[str, str, float, float]]) -> dict[str, tuple[str, float]]:
    """(job, server, accepted at, ended at) → job → (server, seconds executing), from the later of its acceptance
    and the previous end on its server to its own end: a server runs one prompt at a time."""
    by_server: dict[str, list[tuple[float, float, str]]] = {}
    for job, server, start, end in runs:
        by_server.setdefault(server, []).append((end, start, job))
    out: dict[str, tuple[str, float]] = {}
    for server, spans in by_server.items():
        previous: float | None = None
        for end, start, job in sorted(spans):
            began = start if previous is None else max(start, previous)
            out[job] = (server, max(0.0, end - began))
            previous = end
    return out
