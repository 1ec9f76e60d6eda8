"""Placement benchmarks (issue 5 §7): every placement policy side by side on simulated servers of unequal speed.

Each measurement starts one fleet per policy (nats-server, scheduler with `ORCH_SCHEDULER_PLACEMENT_POLICY`, api,
and N `orch sim` servers each behind its agent, every part a real process), submits the same work, and reads
the job lifecycle events off NATS. GPU time in the sim is a sleep: a KSampler step costs `--step-seconds`, a
checkpoint switch `--model-load-seconds`, both divided by the server's `--speed`.

- heterogeneous batch: jobs of four workflow shapes (4 to 40 steps) over three checkpoints on servers of speeds
  0.5 to 4; makespan vs the lower bound and useful GPU time;
- chained projects: generate → upscale → (one in three) a second stage, each project one run, the generate
  stage handing a 1.5 MB PNG to the next; makespan vs the bound and the handoff latency;
- model affinity: equal servers, a checkpoint switch that dwarfs the job, jobs over a few checkpoints;
  throughput of `smart` vs `least_loaded`.

Definitions (all from event timestamps, one machine clock):

- makespan: first `JobSubmitted.occurred_at` → last `JobSucceeded.occurred_at`;
- lower bound: the largest of total sampler work ÷ total speed, the longest job on the fastest server and the
  longest chain on the fastest server (model loads are left out, so the bound is optimistic);
- useful GPU time: Σ per server of the time it spends executing ÷ (servers × makespan), where a job executes
  from the later of its `JobStarted` and the previous job's `JobSucceeded` on that server to its own
  `JobSucceeded` (ComfyUI runs one prompt at a time; this is the scheduler's own measure of run time);
- handoff: an upstream node's `JobSucceeded.occurred_at` → the downstream node's `JobStarted.occurred_at`
  (the prompt accepted by its server, after the artifact was uploaded there);
- policy alone: the same work under the scheduler's own `decide` (and, for chained projects, its run engine) on a
  fake clock with the same sleeps and no processes (`simulate_batch`, `simulate_chains`), so the policy's
  quality is told apart from the system's cost on this machine;
- with no plumbing (chained projects): the same policy and run engine in the benchmark's process on the real
  clock, driving fresh sims directly (`bench.no_plumbing`), so the sims' own work on these shared cores is told
  apart from the cost of NATS, the event log, the agents and the API.

Run: ``python -m bench.bench_placement [--quick]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
import numpy as np
from nats.aio.msg import Msg
from PIL import Image

from bench.common import CPU_ROLES, STATS_HEADER, STATS_RULE, cpu_by_role, executing_spans, stats, wait_http
from bench.no_plumbing import fleet_state, run_with_policy
from orch_common.contracts import events as ev
from orch_common.contracts import runs as rn
from orch_common.contracts import subjects
from orch_common.contracts.projects import ProjectDocument
from orch_scheduler.domain.decide import decide
from orch_scheduler.domain.fold import apply
from orch_scheduler.domain.state import SchedulerState
from tests.helpers.stack import Stack
from tests.helpers.workflows import txt2img

__all__ = [
    "FULL",
    "QUICK",
    "Server",
    "Work",
    "busy_share",
    "lower_bound",
    "measure_affinity",
    "measure_batch",
    "measure_chains",
    "run",
    "seeded_state",
    "simulate",
    "simulate_batch",
    "simulate_chains",
    "useful_gpu_share",
]

POLICY_ENV = "ORCH_SCHEDULER_PLACEMENT_POLICY"
CHECKPOINTS = ("bench-a.safetensors", "bench-b.safetensors", "bench-c.safetensors", "bench-d.safetensors")
NOISE_NAME = "bench-noise-1.5mb.png"
_TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


# ----------------------------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Server:
    """One simulated server: its speed divides every sleep; `load_s` is its checkpoint load at speed 1."""

    id: str
    speed: float
    load_s: float


@dataclass(frozen=True)
class Work:
    """One job to submit: its prompt, its sampler steps and its checkpoint."""

    workflow: dict[str, Any]
    steps: int
    checkpoint: str
    kind: str


@dataclass
class Watch:
    """Job lifecycle events seen on core NATS, first occurrence of each kind per job."""

    submitted: dict[str, datetime] = field(default_factory=dict)
    scheduled: dict[str, datetime] = field(default_factory=dict)
    started: dict[str, tuple[datetime, str]] = field(default_factory=dict)
    ended: dict[str, tuple[datetime, str, str]] = field(default_factory=dict)  # at, backend, terminal kind
    expected: int = 0
    all_done: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_msg(self, msg: Msg) -> None:
        if ".evt.job." not in msg.subject:
            return
        kind = msg.subject.rsplit(".", 1)[1]
        if kind not in ("submitted", "scheduled", "started", *_TERMINAL):
            return
        data = json.loads(msg.data)
        job_id, at = data["job_id"], datetime.fromisoformat(data["occurred_at"])
        if kind == "submitted":
            self.submitted.setdefault(job_id, at)
        elif kind == "scheduled":
            self.scheduled.setdefault(job_id, at)
        elif kind == "started":
            self.started.setdefault(job_id, (at, data["backend_id"]))
        elif job_id not in self.ended:
            self.ended[job_id] = (at, data.get("backend_id") or "", kind)
            if self.expected and len(self.ended) >= self.expected:
                self.all_done.set()

    def states(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for _, _, kind in self.ended.values():
            out[kind] = out.get(kind, 0) + 1
        return out

    def makespan(self) -> float:
        first = min(self.submitted.values())
        last = max(at for at, _, _ in self.ended.values())
        return (last - first).total_seconds()


def _progress(message: str) -> None:
    print(f"    [placement] {message}", file=sys.stderr, flush=True)


def lower_bound(works_s: Sequence[float], speeds: Sequence[float], chains_s: Sequence[float] = ()) -> tuple[float, str]:
    """The largest of total work ÷ total speed, the longest job and the longest chain (both on the fastest)."""
    fastest = max(speeds)
    candidates = {
        "total work ÷ total speed": sum(works_s) / sum(speeds),
        "longest job": max(works_s) / fastest,
    }
    if chains_s:
        candidates["longest chain"] = max(chains_s) / fastest
    name = max(candidates, key=lambda k: candidates[k])
    return candidates[name], name


def executing(watch: Watch) -> dict[str, tuple[str, float]]:
    """job id → (backend, seconds executing): from max(its start, the server's previous end) to its end."""
    return executing_spans(
        (job_id, backend, watch.started[job_id][0].timestamp(), end.timestamp())
        for job_id, (end, backend, kind) in watch.ended.items()
        if kind == "succeeded" and job_id in watch.started
    )


def useful_gpu_share(watch: Watch, servers: int) -> float:
    """Σ executing time ÷ (servers × makespan)."""
    return busy_share(executing(watch), servers, watch.makespan())


def busy_share(spans: dict[str, tuple[str, float]], servers: int, makespan: float) -> float:
    """Σ executing time of `spans` (job id → (server, seconds executing)) ÷ (servers × makespan)."""
    return sum(seconds for _, seconds in spans.values()) / (servers * makespan)


# -------------------------------------------------------------------------------------------- workflows


def _renamed(workflow: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The same prompt with every node id prefixed (a different shape for the scheduler's measured speed)."""

    def link(value: Any) -> Any:
        if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int):
            return [prefix + value[0], value[1]]
        return value

    return {
        prefix + node_id: {**node, "inputs": {k: link(v) for k, v in node["inputs"].items()}}
        for node_id, node in workflow.items()
    }


def _sampled(ckpt: str, steps: int, seed: int, *, save: bool = True) -> dict[str, Any]:
    """checkpoint → two prompts → 64×64 latent → KSampler(`steps`) → VAEDecode → SaveImage (or PreviewImage)."""
    return txt2img(seed, steps, 64, f"bench scene {seed}", ckpt=ckpt, prefix="bench" if save else None)


BATCH_KINDS: tuple[tuple[str, int, float], ...] = (
    ("draft", 4, 0.4),
    ("std", 12, 0.3),
    ("hires", 24, 0.2),
    ("xl", 40, 0.1),
)
"""(shape, sampler steps, share of the batch)"""


def batch_works(n: int, seed: int = 5) -> list[Work]:
    rng = random.Random(seed)
    kinds = [k for k, _, _ in BATCH_KINDS]
    weights = [w for _, _, w in BATCH_KINDS]
    steps = {k: s for k, s, _ in BATCH_KINDS}
    out = []
    for i in range(n):
        kind = rng.choices(kinds, weights)[0]
        ckpt = CHECKPOINTS[rng.randrange(3)]
        out.append(Work(_renamed(_sampled(ckpt, steps[kind], i), kind), steps[kind], ckpt, kind))
    return out


# ----------------------------------------------------------------------------------------------- fleets


@contextlib.contextmanager
def _policy_env(policy: str) -> Any:
    before = os.environ.get(POLICY_ENV)
    os.environ[POLICY_ENV] = policy
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(POLICY_ENV, None)
        else:
            os.environ[POLICY_ENV] = before


@contextlib.asynccontextmanager
async def fleet(policy: str, servers: Sequence[Server], step_s: float) -> AsyncIterator[Stack]:
    """A stack whose scheduler runs `policy`, with one sim + agent per server, all online."""
    with tempfile.TemporaryDirectory(prefix="orch-bench-placement-") as tmp:
        with _policy_env(policy):
            stack = Stack(Path(tmp))
            await stack.__aenter__()
        try:
            for s in servers:
                stack.add_agent(s.id, stack.add_sim(s.id, *_sim_options(s, step_s)))
            await stack.wait_backends({s.id for s in servers}, timeout=180)
            yield stack
        except BaseException as exc:
            await stack.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        else:
            await stack.__aexit__(None, None, None)


def _sim_options(server: Server, step_s: float) -> tuple[str, ...]:
    """`orch sim` options for `server`: its speed, the step and its checkpoint load, every bench checkpoint."""
    return (
        "--speed",
        str(server.speed),
        "--step-seconds",
        str(step_s),
        "--model-load-seconds",
        str(server.load_s),
        "--models",
        "checkpoints=" + ",".join(CHECKPOINTS),
        "--log-level",
        "warning",
    )


@contextlib.asynccontextmanager
async def watching(stack: Stack, expected: int) -> AsyncIterator[Watch]:
    watch = Watch(expected=expected)
    nc = await nats.connect(stack.nats.url)
    sub = await nc.subscribe(subjects.all_events(), cb=watch.on_msg)
    try:
        yield watch
    finally:
        await sub.unsubscribe()
        await nc.close()


async def _submit_all(http: httpx.AsyncClient, works: Sequence[Work], submitters: int = 8) -> list[str]:
    ids: list[str] = [""] * len(works)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(works)):
        queue.put_nowait(i)

    async def submitter() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            response = await http.post("/api/jobs", json={"workflow": works[i].workflow})
            if response.status_code != 202:
                raise RuntimeError(f"submission refused: {response.status_code} {response.text[:200]}")
            ids[i] = str(response.json()["id"])

    await asyncio.gather(*(submitter() for _ in range(submitters)))
    return ids


# ------------------------------------------------------------------------------------------------ batch


@dataclass
class PolicyResult:
    policy: str
    makespan_s: float
    useful: float
    states: dict[str, int]
    extra: dict[str, Any] = field(default_factory=dict)


async def _one_batch(policy: str, servers: Sequence[Server], step_s: float, works: Sequence[Work]) -> PolicyResult:
    async with fleet(policy, servers, step_s) as stack, watching(stack, len(works)) as watch:
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as http:
            ids = await _submit_all(http, works)
        total = sum(w.steps for w in works) * step_s
        await asyncio.wait_for(watch.all_done.wait(), timeout=max(120.0, 5 * total / min(s.speed for s in servers)))
        per_backend: dict[str, int] = {}
        for _, backend, _ in watch.ended.values():
            per_backend[backend] = per_backend.get(backend, 0) + 1
        result = PolicyResult(
            policy,
            watch.makespan(),
            useful_gpu_share(watch, len(servers)),
            watch.states(),
            {
                "per_backend": per_backend,
                "fixed_cost": _fixed_cost(
                    executing(watch), {j: w.steps for j, w in zip(ids, works, strict=True)}, servers, step_s
                ),
            },
        )
        _progress(f"{len(works)} jobs, {policy}: makespan {result.makespan_s:.2f} s, per server {per_backend}")
        return result


def _fixed_cost(
    spans: dict[str, tuple[str, float]], steps: dict[str, int], servers: Sequence[Server], step_s: float
) -> float:
    """Median over jobs (job id → sampler steps) of executing time (`spans`, as `executing` gives) − its sampler
    sleep (steps × step ÷ speed): what the bound leaves out (the other nodes, PNG encoding and decoding, a
    checkpoint load, the gap between one prompt's end and the next one's start)."""
    speed = {s.id: s.speed for s in servers}
    extra = [spans[job_id][1] - n * step_s / speed[spans[job_id][0]] for job_id, n in steps.items() if job_id in spans]
    return statistics.median(extra) if extra else math.nan


async def measure_batch(
    jobs: int, servers: Sequence[Server], step_s: float, policies: Sequence[str]
) -> tuple[list[PolicyResult], float, str, list[Work]]:
    works = batch_works(jobs)
    bound, binding = lower_bound([w.steps * step_s for w in works], [s.speed for s in servers])
    results = [await _one_batch(p, servers, step_s, works) for p in policies]
    for r in results:
        r.extra["virtual_s"] = simulate_batch(r.policy, servers, works, step_s)
    return results, bound, binding, works


def simulate_batch(
    policy: str, servers: Sequence[Server], works: Sequence[Work], step_s: float, max_inflight: int = 2
) -> float:
    """The makespan of the scheduler's own `decide` on a fake clock: no processes, no overhead, the same
    sleeps (steps × step ÷ speed, plus load ÷ speed on a checkpoint switch); all jobs submitted at 0.

    This separates the policy's choices from the cost of running the system on a shared 2-core machine."""
    return simulate(policy, servers, step_s, works=works, max_inflight=max_inflight)


def simulate_chains(
    policy: str,
    servers: Sequence[Server],
    plan: Sequence[Chain],
    step_s: float,
    max_inflight: int = 2,
    fixed_s: float = 0.0,
) -> float:
    """Like `simulate_batch` for chained projects: every project's run is requested at 0, and the scheduler's
    own run engine submits each stage when the one before it succeeded (handoffs cost nothing here).
    `fixed_s`: seconds every job takes on its server besides its sleeps (0: none, as the bound assumes)."""
    return simulate(policy, servers, step_s, plan=plan, max_inflight=max_inflight, fixed_s=fixed_s)


def seeded_state(
    servers: Sequence[Server], works: Sequence[Work], plan: Sequence[Chain], when: datetime
) -> tuple[SchedulerState, dict[str, int], dict[tuple[str, str], int]]:
    """A scheduler state with `servers` registered (having every node class of the work) and, at `when`,
    `works` submitted (as `j00000`…) and one run per project of `plan` requested (as `r00000`…); with the
    sampler steps of each plain job (by job id) and of each stage (by run id and graph node id)."""
    prompts = [w.workflow for w in works] + [n["workflow_api"] for c in plan for n in c.nodes]
    state = fleet_state([s.id for s in servers], prompts, when)
    steps_of: dict[str, int] = {}
    for i, work in enumerate(works):
        apply(state, ev.JobSubmitted(job_id=f"j{i:05d}", workflow=work.workflow, occurred_at=when))
        steps_of[f"j{i:05d}"] = work.steps
    stage_steps: dict[tuple[str, str], int] = {}
    for i, c in enumerate(plan):
        document = ProjectDocument(name=f"chain {i}", nodes=c.nodes, edges=c.edges)
        apply(
            state,
            rn.RunRequested(
                run_id=f"r{i:05d}", project_id=f"p{i:05d}", project_version=1, document=document, occurred_at=when
            ),
        )
        for node, n in zip(c.nodes, c.steps, strict=True):
            stage_steps[(f"r{i:05d}", node["id"])] = n
    return state, steps_of, stage_steps


def simulate(
    policy: str,
    servers: Sequence[Server],
    step_s: float,
    *,
    works: Sequence[Work] = (),
    plan: Sequence[Chain] = (),
    max_inflight: int = 2,
    fixed_s: float = 0.0,
) -> float:
    """The fake-clock makespan of `works` (plain jobs) and `plan` (one run per chained project) under `policy`.

    A job's GPU time is its sampler steps × step ÷ speed, plus the server's checkpoint load ÷ speed when it
    loads another checkpoint than the one before, plus `fixed_s` (the same on every server); a server runs its
    accepted prompts one after another, and a prompt is accepted (JobStarted) the moment it is scheduled, as the
    agents do."""
    epoch = datetime(2026, 1, 1, tzinfo=UTC)

    def at(seconds: float) -> datetime:
        return epoch + timedelta(seconds=seconds)

    state, steps_of, stage_steps = seeded_state(servers, works, plan, at(0))
    speed = {s.id: s.speed for s in servers}
    load = {s.id: s.load_s for s in servers}
    tail: dict[str, float] = {s.id: 0.0 for s in servers}  # when the server's last queued prompt ends
    loaded: dict[str, str | None] = {s.id: None for s in servers}
    running: dict[str, tuple[str, int, float]] = {}
    prompt_ids = (f"p{i}" for i in itertools.count())
    now = 0.0
    while True:
        for _ in range(100):
            decisions = decide(
                state, at(now), max_inflight=max_inflight, new_prompt_id=lambda: next(prompt_ids), policy=policy
            )
            if not decisions.events:
                break
            for event in decisions.events:
                apply(state, event)
                if isinstance(event, ev.JobScheduled):
                    b, job = event.backend_id, state.jobs[event.job_id]
                    apply(
                        state,
                        ev.JobStarted(
                            job_id=event.job_id,
                            attempt=event.attempt,
                            backend_id=b,
                            prompt_id=event.prompt_id,
                            occurred_at=at(now),
                        ),
                    )
                    n = steps_of.get(job.id) or stage_steps[(job.run_id or "", job.graph_node_id or "")]
                    seconds = n * step_s / speed[b] + fixed_s
                    if loaded[b] != job.checkpoint:
                        seconds += load[b] / speed[b]
                        loaded[b] = job.checkpoint
                    tail[b] = max(now, tail[b]) + seconds
                    running[event.job_id] = (b, event.attempt, tail[b])
        if not running:
            unfinished = [j.id for j in state.jobs.values() if not j.state.terminal]
            if unfinished or len(state.jobs) < len(works) + sum(len(c.nodes) for c in plan):
                raise RuntimeError(f"the fake clock stopped with jobs unfinished or never submitted: {unfinished}")
            return now
        job_id, (b, attempt, end) = min(running.items(), key=lambda kv: (kv[1][2], kv[0]))
        del running[job_id]
        now = max(now, end)
        apply(
            state,
            ev.JobOutputStored(
                job_id=job_id,
                attempt=attempt,
                node_id="20",
                index=0,
                artifact_id=f"{job_id}/{attempt}/20/0-out.png",
                filename="out.png",
                kind=ev.ArtifactKind.IMAGE,
                content_type="image/png",
                size=10,
                sha256="0" * 64,
                occurred_at=at(now),
            ),
        )
        apply(state, ev.JobSucceeded(job_id=job_id, attempt=attempt, backend_id=b, occurred_at=at(now)))


def batch_section(
    results: Sequence[PolicyResult],
    bound: float,
    binding: str,
    works: Sequence[Work],
    servers: Sequence[Server],
    step_s: float,
) -> str:
    mix = {k: sum(1 for w in works if w.kind == k) for k, _, _ in BATCH_KINDS}
    lines = [
        f"### Heterogeneous batch: {len(works)} jobs on {len(servers)} servers",
        "",
        f"Job shapes (steps: count) {', '.join(f'{k} ({s}): {mix[k]}' for k, s, _ in BATCH_KINDS)}, over 3 "
        f"checkpoints; step {step_s * 1000:.0f} ms at speed 1; server speeds "
        f"{', '.join(f'{s.speed:g}' for s in servers)} (Σ {sum(s.speed for s in servers):g}), checkpoint loads "
        f"{', '.join(f'{s.load_s:g}' for s in servers)} s at speed 1. Lower bound {bound:.2f} s ({binding}). "
        "Targets for `smart`: makespan ≤ 1.10 × the bound, useful GPU time ≥ 90 %.",
        "",
        "| policy | makespan s | × bound | useful GPU time | policy alone: × bound | fixed cost per job (median) |"
        " jobs per server | terminal states |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in results:
        per = ", ".join(f"{k}: {v}" for k, v in sorted(r.extra["per_backend"].items()))
        lines.append(
            f"| `{r.policy}` | {r.makespan_s:.2f} | {r.makespan_s / bound:.2f}× | {r.useful * 100:.1f} % | "
            f"{r.extra['virtual_s'] / bound:.2f}× | {r.extra['fixed_cost'] * 1000:.0f} ms | {per} | {r.states} |"
        )
    lines += [
        "",
        "Policy alone: the scheduler's own `decide` run on a fake clock over the same jobs and servers (same "
        "sleeps, no processes, no overhead), so the gap between it and the measured makespan is the system's cost "
        "on this machine, not the policy's choice. With at most `max_inflight_per_backend` = 2 prompts per server, "
        "a slot usually frees on one server at a time, and then every arrival-order policy gives it the next job "
        "in the queue, which is why the three simple policies land on the same figure there.",
        "",
        "Fixed cost per job: its executing time minus its sampler sleep (steps × step ÷ speed), i.e. what the "
        "bound leaves out: the other nodes and the PNG save in the sim, a checkpoint switch, the gap between one "
        "prompt's end and the next one's start, all on a shared 2-core machine.",
        "",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- chains


def noise_png(target_bytes: int = 1_500_000) -> bytes:
    """An RGB PNG of random noise of about `target_bytes` (noise does not compress)."""
    side = int((target_bytes / 3) ** 0.5)
    pixels = np.random.default_rng(7).integers(0, 256, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _stage_generate(ckpt: str, steps: int, seed: int) -> dict[str, Any]:
    """Sampled branch (GPU time) + the 1.5 MB picture saved as this stage's image output (`20.images`)."""
    workflow = _renamed(_sampled(ckpt, steps, seed, save=False), "g")
    workflow["19"] = {"class_type": "LoadImage", "inputs": {"image": NOISE_NAME}}
    workflow["20"] = {"class_type": "SaveImage", "inputs": {"filename_prefix": f"gen{seed}", "images": ["19", 0]}}
    return workflow


def _stage_followup(prefix: str, ckpt: str, steps: int, seed: int, *, forward: bool) -> dict[str, Any]:
    """Loads the upstream image at `1.image`; a sampled branch for GPU time; forwards the image if `forward`."""
    workflow = _renamed(_sampled(ckpt, steps, seed, save=False), prefix)
    workflow["1"] = {"class_type": "LoadImage", "inputs": {"image": "placeholder.png"}}
    if forward:
        workflow["20"] = {
            "class_type": "SaveImage",
            "inputs": {"filename_prefix": f"{prefix}{seed}", "images": ["1", 0]},
        }
    else:
        workflow["2"] = {
            "class_type": "ImageScale",
            "inputs": {
                "image": ["1", 0],
                "upscale_method": "nearest-exact",
                "width": 32,
                "height": 32,
                "crop": "disabled",
            },
        }
        workflow["20"] = {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}}
    return workflow


@dataclass(frozen=True)
class Chain:
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    steps: list[int]


def chains(n: int, seed: int = 11, ckpt: str | None = None) -> list[Chain]:
    """`n` projects: generate → upscale on one of two checkpoints (`ckpt` for all, when given), one in three
    followed by a second stage on a third."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        drawn = CHECKPOINTS[rng.randrange(2)]
        ckpt_i = ckpt or drawn
        third = i % 3 == 0
        steps = [rng.choice((8, 12, 16)), rng.choice((6, 10)), *([rng.choice((20, 30))] if third else [])]
        nodes = [
            {"id": "gen", "title": "Generate", "workflow_api": _stage_generate(ckpt_i, steps[0], i)},
            {"id": "up", "title": "Upscale", "workflow_api": _stage_followup("u", ckpt_i, steps[1], i, forward=third)},
        ]
        edges = [
            {
                "id": "e1",
                "source": "gen",
                "source_port": "20.images",
                "target": "up",
                "target_port": "1.image",
                "kind": "IMAGE",
            }
        ]
        if third:
            nodes.append(
                {
                    "id": "vid",
                    "title": "Second stage",
                    "workflow_api": _stage_followup("v", CHECKPOINTS[2], steps[2], i, forward=False),
                }
            )
            edges.append(
                {
                    "id": "e2",
                    "source": "up",
                    "source_port": "20.images",
                    "target": "vid",
                    "target_port": "1.image",
                    "kind": "IMAGE",
                }
            )
        out.append(Chain(nodes, edges, steps))
    return out


async def _upload_noise(stack: Stack, servers: Sequence[Server], png: bytes) -> None:
    for s in servers:
        async with httpx.AsyncClient(base_url=stack.procs[s.id].extra["url"], timeout=30) as http:
            files = {"image": (NOISE_NAME, png, "image/png")}
            response = await http.post("/upload/image", files=files, data={"overwrite": "true"})
            response.raise_for_status()


async def _one_chains(
    policy: str, servers: Sequence[Server], step_s: float, plan: Sequence[Chain], png: bytes
) -> PolicyResult:
    jobs = sum(len(c.nodes) for c in plan)
    async with fleet(policy, servers, step_s) as stack:
        await _upload_noise(stack, servers, png)
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as http:
            project_ids = []
            for i, c in enumerate(plan):
                body = {"name": f"bench chain {i}", "nodes": c.nodes, "edges": c.edges}
                response = await http.post("/api/projects", json=body)
                if response.status_code != 201:
                    raise RuntimeError(f"project refused: {response.status_code} {response.text[:300]}")
                project_ids.append(response.json()["id"])
            async with watching(stack, jobs) as watch:
                cpu_before, clock_before = cpu_by_role(stack), time.monotonic()
                run_ids = []
                for pid in project_ids:
                    response = await http.post(f"/api/projects/{pid}/runs", json={})
                    if response.status_code != 202:
                        raise RuntimeError(f"run refused: {response.status_code} {response.text[:300]}")
                    run_ids.append(response.json()["run_id"])
                total = sum(sum(c.steps) for c in plan) * step_s
                await asyncio.wait_for(watch.all_done.wait(), timeout=max(180.0, 5 * total))
                cpu_after, clock_after = cpu_by_role(stack), time.monotonic()
            handoffs, cross = [], []
            steps: dict[str, int] = {}
            for run_id, c in zip(run_ids, plan, strict=True):
                view = (await http.get(f"/api/runs/{run_id}")).json()
                item = view["items"][0]["nodes"]
                for node, n in zip(("gen", "up", "vid"), c.steps, strict=False):
                    steps.update({job_id: n for job_id in item[node]["jobs"][-1:]})
                for up, down in (("gen", "up"), ("up", "vid")):
                    if down not in item or not item[up]["jobs"] or not item[down]["jobs"]:
                        continue
                    a, b = item[up]["jobs"][-1], item[down]["jobs"][-1]
                    if a in watch.ended and b in watch.started:
                        delta = (watch.started[b][0] - watch.ended[a][0]).total_seconds()
                        handoffs.append(delta)
                        if watch.started[b][1] != watch.ended[a][1]:
                            cross.append(delta)
        _progress(f"{len(plan)} chained projects, {policy}: makespan {watch.makespan():.2f} s")
        return PolicyResult(
            policy,
            watch.makespan(),
            useful_gpu_share(watch, len(servers)),
            watch.states(),
            {
                "handoffs": handoffs,
                "cross": cross,
                "fixed_cost": _fixed_cost(executing(watch), steps, servers, step_s),
                "cpu": {role: cpu_after[role] - cpu_before[role] for role in CPU_ROLES},
                "cpu_wall": clock_after - clock_before,
            },
        )


IDLE_PARTS = (
    ("handoff", "upstream JobSucceeded → downstream JobStarted"),
    ("to_submitted", "… part 1: upstream JobSucceeded → downstream JobSubmitted"),
    ("to_scheduled", "… part 2: downstream JobSubmitted → JobScheduled"),
    ("to_started", "… part 3: JobScheduled → JobStarted (1.5 MB fetched, uploaded, prompt accepted)"),
)


async def _idle_handoffs(servers: Sequence[Server], step_s: float, png: bytes, n: int) -> dict[str, list[float]]:
    """Two-stage chains pinned to two idle servers, one at a time: the handoff with nothing queued, and (under
    "fixed_cost", one value) the median fixed cost per job of those chains' jobs."""
    a, b = servers[0].id, servers[1].id
    async with fleet("smart", servers[:2], step_s) as stack:
        await _upload_noise(stack, servers[:2], png)
        out: dict[str, list[float]] = {key: [] for key, _ in IDLE_PARTS}
        steps: dict[str, int] = {}
        # one checkpoint: no switch after the first; a seed per chain: no prompt is answered from the server's cache
        plan = chains(n, seed=100, ckpt=CHECKPOINTS[0])
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as http, watching(stack, 0) as watch:
            for i, c in enumerate(plan):
                nodes = [{**c.nodes[0], "pinned_backend": a}, {**c.nodes[1], "pinned_backend": b}]
                body = {"name": f"handoff {i}", "nodes": nodes, "edges": c.edges[:1]}
                pid = (await http.post("/api/projects", json=body)).json()["id"]
                run_id = (await http.post(f"/api/projects/{pid}/runs", json={})).json()["run_id"]
                deadline = time.monotonic() + 60
                while True:
                    view = (await http.get(f"/api/runs/{run_id}")).json()
                    if view["state"] in _TERMINAL:
                        break
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"handoff run {run_id} not finished: {view}")
                    await asyncio.sleep(0.1)
                item = view["items"][0]["nodes"]
                g, u = item["gen"]["jobs"][-1], item["up"]["jobs"][-1]
                steps.update({g: c.steps[0], u: c.steps[1]})
                await asyncio.sleep(0.2)
                if g in watch.ended and u in watch.started and u in watch.submitted and u in watch.scheduled:
                    marks = [watch.ended[g][0], watch.submitted[u], watch.scheduled[u], watch.started[u][0]]
                    out["handoff"].append((marks[3] - marks[0]).total_seconds())
                    for (key, _), first, then in zip(IDLE_PARTS[1:], marks[:-1], marks[1:], strict=True):
                        out[key].append((then - first).total_seconds())
            out["fixed_cost"] = [_fixed_cost(executing(watch), steps, servers[:2], step_s)]
        return out


async def measure_chains(
    projects: int, servers: Sequence[Server], step_s: float, policies: Sequence[str], idle_probes: int
) -> tuple[list[PolicyResult], float, str, dict[str, list[float]]]:
    plan = chains(projects)
    png = noise_png()
    works = [s * step_s for c in plan for s in c.steps]
    bound, binding = lower_bound(works, [s.speed for s in servers], [sum(c.steps) * step_s for c in plan])
    results = [await _one_chains(p, servers, step_s, plan, png) for p in policies]
    for r in results:
        r.extra["virtual_s"] = simulate_chains(r.policy, servers, plan, step_s)
    results.append(await _direct_chains(results[0].policy, servers, step_s, plan, png))
    for r in results:
        policy = results[0].policy if r.extra.get("direct") else r.policy
        r.extra["virtual_fixed_s"] = simulate_chains(policy, servers, plan, step_s, fixed_s=r.extra["fixed_cost"])
    idle = await _idle_handoffs(servers, step_s, png, idle_probes)
    return results, bound, binding, idle


async def _direct_chains(
    policy: str, servers: Sequence[Server], step_s: float, plan: Sequence[Chain], png: bytes
) -> PolicyResult:
    """The floor: `policy` and the run engine in this process on the real clock, driving fresh sims directly
    (`bench.no_plumbing`): no nats-server, event log, agents or API."""
    label = f"`{policy}` with no plumbing"
    with tempfile.TemporaryDirectory(prefix="orch-bench-direct-") as tmp:
        async with Stack(Path(tmp), scheduler=False, api=False) as stack:
            for s in servers:
                stack.add_sim(s.id, *_sim_options(s, step_s))
            urls = {s.id: stack.procs[s.id].extra["url"] for s in servers}
            for url in urls.values():
                await wait_http(url + "/system_stats")
            await _upload_noise(stack, servers, png)
            state, _, stage_steps = seeded_state(servers, (), plan, datetime.now(UTC))
            jobs = sum(len(c.nodes) for c in plan)
            cpu_before, clock_before = cpu_by_role(stack), time.monotonic()
            run = await run_with_policy(
                urls, state, jobs, policy=policy, timeout=max(180.0, 5 * step_s * sum(stage_steps.values()))
            )
            cpu_after, clock_after = cpu_by_role(stack), time.monotonic()
    spans = run.executing()
    steps = {
        job_id: stage_steps[(state.jobs[job_id].run_id or "", state.jobs[job_id].graph_node_id or "")]
        for job_id in spans
    }
    _progress(f"{len(plan)} chained projects, {label}: makespan {run.makespan:.2f} s")
    return PolicyResult(
        label,
        run.makespan,
        busy_share(spans, len(servers), run.makespan),
        {"succeeded": len(run.ended)},
        {
            "fixed_cost": _fixed_cost(spans, steps, servers, step_s),
            "cpu": {role: cpu_after[role] - cpu_before[role] for role in CPU_ROLES},
            "cpu_wall": clock_after - clock_before,
            "direct": True,
        },
    )


def chains_section(
    results: Sequence[PolicyResult],
    bound: float,
    binding: str,
    idle: dict[str, list[float]],
    projects: int,
    servers: Sequence[Server],
    step_s: float,
) -> str:
    lines = [
        f"### Chained projects: {projects} projects on {len(servers)} servers",
        "",
        f"Each project is one run of generate (8–16 steps) → upscale (6–10 steps), one in three followed by a second "
        f"stage (20–30 steps, another checkpoint); the generate stage's image output is a {len(noise_png()) / 1e6:.2f}"
        f" MB PNG that the upscale stage loads (and forwards to the second stage). Step {step_s * 1000:.0f} ms; "
        f"server speeds {', '.join(f'{s.speed:g}' for s in servers)}. Lower bound {bound:.2f} s ({binding}). "
        "Targets: makespan ≤ 1.15 × the bound; handoff p99 ≤ 50 ms.",
        "",
        "| policy | makespan s | × bound | useful GPU time | policy alone: × bound | fixed cost per job (median) |"
        " policy alone with that fixed cost: × bound | terminal states |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    orchestrated = [r for r in results if not r.extra.get("direct")]
    direct = [r for r in results if r.extra.get("direct")]
    for r in results:
        alone = "—" if r.extra.get("direct") else f"{r.extra['virtual_s'] / bound:.2f}×"
        name = r.policy if r.extra.get("direct") else f"`{r.policy}`"
        lines.append(
            f"| {name} | {r.makespan_s:.2f} | {r.makespan_s / bound:.2f}× | {r.useful * 100:.1f} % | "
            f"{alone} | {r.extra['fixed_cost'] * 1000:.0f} ms | {r.extra['virtual_fixed_s'] / bound:.2f}× | "
            f"{r.states} |"
        )
    lines += [
        "",
        "Policy alone: the scheduler's own `decide` and run engine on a fake clock over the same projects and "
        "servers (each stage submitted the moment the one before it succeeds, no handoff cost, no processes). "
        "With that fixed cost: the same fake clock, every job also taking that row's measured median fixed cost "
        "on its server: when it lands near the measured makespan, the makespan is that per-job cost (which the "
        "bound leaves out) and not the placement or the handoffs.",
        "",
    ]
    if direct and orchestrated:
        floor, ours = direct[0], orchestrated[0]
        lines += [
            f"With no plumbing (the floor of this machine): `{ours.policy}`'s own `decide` and run engine in the "
            "benchmark's process on the real clock, posting each decision straight to fresh sims "
            "(`bench/no_plumbing.py`): a follow-up stage's image is read from the upstream server's `/view` and "
            "uploaded to its own, as an agent does, but there is no nats-server traffic, event log, agent or API, and "
            "no other output is copied. "
            "What is left is the sims' own work (the sampler sleeps, and ComfyUI's PNG decode and encode of the "
            f"{len(noise_png()) / 1e6:.1f} MB image, on these shared cores) and the image moved: the floor is "
            f"{floor.makespan_s / bound:.2f}× the bound, and the full system takes "
            f"{ours.makespan_s / floor.makespan_s:.2f}× the floor's makespan.",
            "",
        ]
    lines += [
        cpu_table(results),
        "",
        "Handoff: upstream `JobSucceeded` → downstream `JobStarted` (prompt accepted, image uploaded).",
        "",
        STATS_HEADER,
        STATS_RULE,
    ]
    for r in orchestrated:
        lines.append(stats(r.extra["handoffs"]).row(f"`{r.policy}` under load, all handoffs"))
        lines.append(stats(r.extra["cross"]).row(f"`{r.policy}` under load, to another server"))
    for key, label in IDLE_PARTS:
        lines.append(stats(idle[key]).row(f"idle fleet, one chain at a time, pinned to another server: {label}"))
    loaded = ", ".join(f"`{r.policy}` {r.extra['fixed_cost'] * 1000:.0f} ms" for r in orchestrated)
    lines += [
        "",
        f"Fixed cost per job (median) of the idle fleet's chains, one at a time on one checkpoint: "
        f"{idle['fixed_cost'][0] * 1000:.0f} ms, against {loaded} under load: the same nodes and images, so the "
        "difference is checkpoint switches and, mostly, waiting for the machine's cores (see the CPU table above).",
        "",
        "Under load a downstream job also waits for a free slot (at most "
        "`max_inflight_per_backend` prompts per server), so those rows include queueing; the idle row is the "
        "handoff path itself.",
        "",
    ]
    return "\n".join(lines)


def cpu_table(results: Sequence[PolicyResult]) -> str:
    """Where the machine's CPU went while each policy's work ran: seconds per part, and cores busy on average."""
    cores = os.cpu_count() or 1
    lines = [
        "CPU seconds (user + system, psutil) from the first run submitted to the last job ended, per part of the "
        f"fleet on this {cores}-core machine (`sims` and `agents` summed over all of them):",
        "",
        f"| policy | {' | '.join(CPU_ROLES)} | all | CPU ms per job | cores busy on average |",
        f"| --- |{' ---: |' * (len(CPU_ROLES) + 3)}",
    ]
    for r in results:
        cpu, jobs = r.extra["cpu"], sum(r.states.values())
        total = sum(cpu.values())
        cells = " | ".join(f"{cpu[role]:.1f}" for role in CPU_ROLES)
        name = r.policy if r.extra.get("direct") else f"`{r.policy}`"
        lines.append(
            f"| {name} | {cells} | {total:.1f} | {total * 1000 / max(jobs, 1):.0f} | "
            f"{total / r.extra['cpu_wall']:.2f} of {cores} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- affinity


def affinity_works(n: int, checkpoints: int, steps: int, seed: int = 3) -> list[Work]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ckpt = CHECKPOINTS[rng.randrange(checkpoints)]
        out.append(Work(_sampled(ckpt, steps, i), steps, ckpt, "affinity"))
    return out


async def measure_affinity(
    jobs: int, servers: int, checkpoints: int, steps: int, step_s: float, load_s: float, policies: Sequence[str]
) -> list[PolicyResult]:
    fleet_spec = [Server(f"sim-{i}", 1.0, load_s) for i in range(1, servers + 1)]
    works = affinity_works(jobs, checkpoints, steps)
    results = []
    for policy in policies:
        r = await _one_batch(policy, fleet_spec, step_s, works)
        r.extra["throughput"] = r.states.get("succeeded", 0) / r.makespan_s  # a failed job is no throughput
        results.append(r)
    return results


def affinity_section(results: Sequence[PolicyResult], cfg: dict[str, Any]) -> str:
    by = {r.policy: r for r in results}
    ratio = by["smart"].extra["throughput"] / by["least_loaded"].extra["throughput"]
    job_s = cfg["steps"] * cfg["step_s"]
    lines = [
        f"### Model affinity: {cfg['jobs']} jobs over {cfg['checkpoints']} checkpoints on {cfg['servers']} servers",
        "",
        f"Equal servers (speed 1), checkpoint load {cfg['load_s']:g} s, each job {job_s:g} s of sampling, "
        f"checkpoints in random order. Target: `smart` ≥ 1.5 × the throughput of `least_loaded`.",
        "",
        "| policy | makespan s | jobs/s | useful GPU time (loads count as busy) | terminal states |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        lines.append(
            f"| `{r.policy}` | {r.makespan_s:.2f} | {r.extra['throughput']:.3f} | {r.useful * 100:.1f} % | {r.states} |"
        )
    lines += ["", f"`smart` ÷ `least_loaded` throughput (succeeded jobs only): **{ratio:.2f}×**.", ""]
    if any(r.states.get("succeeded", 0) != cfg["jobs"] for r in results):
        lines += ["**Not every job succeeded**: see the terminal states; the ratio above is not a pass.", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- harness


def _servers(speeds: Sequence[float], loads: Sequence[float]) -> list[Server]:
    return [Server(f"sim-{i + 1:02d}", s, lo) for i, (s, lo) in enumerate(zip(speeds, loads, strict=True))]


ALL_POLICIES = ("smart", "least_loaded", "fifo_speed_blind", "round_robin")

QUICK: dict[str, dict[str, Any]] = {
    "batch": {
        "jobs": 60,
        "speeds": (0.5, 1, 2, 3),
        "loads": (0.2, 0.3, 0.4, 0.3),
        "step_s": 0.05,
        "policies": ALL_POLICIES,
    },
    "chains": {
        "projects": 20,
        "speeds": (0.5, 1, 2, 3),
        "loads": (0.2, 0.3, 0.4, 0.3),
        "step_s": 0.05,
        "policies": ("smart", "fifo_speed_blind"),
        "idle_probes": 10,
    },
    "affinity": {
        "jobs": 24,
        "servers": 3,
        "checkpoints": 3,
        "steps": 20,
        "step_s": 0.02,
        "load_s": 2.0,
        "policies": ("smart", "least_loaded"),
    },
}
FULL: dict[str, dict[str, Any]] = {
    "batch": {
        "jobs": 600,
        "speeds": (0.5, 0.75, 1, 1, 1.5, 1.5, 2, 2, 3, 4),
        "loads": (0.2, 0.3, 0.4, 0.2, 0.3, 0.4, 0.2, 0.3, 0.4, 0.3),
        "step_s": 0.1,
        "policies": ALL_POLICIES,
    },
    "chains": {
        "projects": 200,
        "speeds": (0.5, 0.75, 1, 1, 1.5, 1.5, 2, 2, 3, 4),
        "loads": (0.2, 0.3, 0.4, 0.2, 0.3, 0.4, 0.2, 0.3, 0.4, 0.3),
        "step_s": 0.1,
        "policies": ("smart", "fifo_speed_blind"),
        "idle_probes": 50,
    },
    "affinity": {
        "jobs": 48,
        "servers": 4,
        "checkpoints": 4,
        "steps": 20,
        "step_s": 0.1,
        "load_s": 10.0,
        "policies": ("smart", "least_loaded"),
    },
}


def run(quick: bool = False) -> str:
    """The three measurements, each with its policies side by side; a markdown section for docs/benchmarks.md."""
    sizes = QUICK if quick else FULL
    b = sizes["batch"]
    batch_servers = _servers(b["speeds"], b["loads"])
    batch, bound, binding, works = asyncio.run(measure_batch(b["jobs"], batch_servers, b["step_s"], b["policies"]))
    c = sizes["chains"]
    chain_servers = _servers(c["speeds"], c["loads"])
    chain_results, c_bound, c_binding, idle = asyncio.run(
        measure_chains(c["projects"], chain_servers, c["step_s"], c["policies"], c["idle_probes"])
    )
    a = sizes["affinity"]
    affinity = asyncio.run(measure_affinity(**a))
    sections = [
        "## Placement: policies side by side",
        "",
        "Every policy gets its own fresh fleet (nats-server, scheduler, api, one `orch sim` + agent per server, all "
        "real processes on this 2-core machine) and the same work; GPU time is a sleep. Definitions are in "
        "`bench/bench_placement.py`'s docstring: makespan from the first `JobSubmitted` to the last "
        "`JobSucceeded`; useful GPU time = time servers spend executing ÷ (servers × makespan).",
        "",
        batch_section(batch, bound, binding, works, batch_servers, b["step_s"]),
        chains_section(chain_results, c_bound, c_binding, idle, c["projects"], chain_servers, c["step_s"]),
        affinity_section(affinity, a),
    ]
    return "\n".join(sections)


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
