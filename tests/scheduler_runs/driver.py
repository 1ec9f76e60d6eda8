"""A pure, in-memory fleet for the run-engine tests: decide → fold → pretend agents answer, on a fake clock.

Every event goes through `fold.apply` and is kept in `log`, so a test can replay the log from zero and compare.
`fail` decides which job attempts fail (a FailureReason) instead of succeeding.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from orch_common.contracts import events as ev
from orch_scheduler.domain.decide import decide
from orch_scheduler.domain.fold import apply, apply_all
from orch_scheduler.domain.state import SchedulerState
from tests.scheduler.factories import at, output_stored, registered

CLASSES = (
    "CheckpointLoaderSimple",
    "CLIPTextEncode",
    "EmptyLatentImage",
    "KSampler",
    "VAEDecode",
    "SaveImage",
    "LoadImage",
    "ImageInvert",
    "ImageScale",
    "EmptyImage",
)


class Fleet:
    def __init__(self, backends: list[str], *, policy: str = "smart", max_inflight: int = 2) -> None:
        self.state = SchedulerState()
        self.log: list[Any] = []
        self.now = at(0)
        self.policy = policy
        self.max_inflight = max_inflight
        self.prompt_ids = (f"p{i}" for i in itertools.count())
        self.fail: Callable[[str, int, str], ev.FailureReason | None] = lambda job, attempt, backend: None
        self.durations: dict[str, float] = {}  # backend → seconds per job (default 1)
        self.running: dict[str, tuple[str, int, float]] = {}  # job → (backend, attempt, ends at seconds)
        self.placed: list[ev.JobScheduled] = []
        for b in backends:
            self.emit(registered(b, CLASSES, t=0))

    def emit(self, event: Any) -> None:
        self.log.append(event)
        apply(self.state, event)

    def settle(self) -> None:
        """Decision rounds until nothing more is asked for (placed attempts start at once)."""
        for _ in range(50):
            decisions = decide(
                self.state,
                self.now,
                max_inflight=self.max_inflight,
                new_prompt_id=lambda: next(self.prompt_ids),
                policy=self.policy,
            )
            if not decisions.events:
                return
            for event in decisions.events:
                self.emit(event)
                if isinstance(event, ev.JobScheduled) and self.state.jobs[event.job_id].in_flight is not None:
                    self.placed.append(event)
                    self._start(event)
        raise AssertionError("decisions did not settle")

    def _start(self, s: ev.JobScheduled) -> None:
        self.emit(
            ev.JobStarted(
                job_id=s.job_id, attempt=s.attempt, backend_id=s.backend_id, prompt_id=s.prompt_id, occurred_at=self.now
            )
        )
        queue = [end for (b, _, end) in self.running.values() if b == s.backend_id]
        begin = max([self.seconds, *queue])
        self.running[s.job_id] = (s.backend_id, s.attempt, begin + self.durations.get(s.backend_id, 1.0))

    @property
    def seconds(self) -> float:
        return (self.now - at(0)).total_seconds()

    def step(self) -> bool:
        """Finish the attempt that ends first; False when nothing runs."""
        if not self.running:
            return False
        job_id, (backend, attempt, end) = min(self.running.items(), key=lambda kv: (kv[1][2], kv[0]))
        del self.running[job_id]
        self.now = max(self.now, at(end))
        reason = self.fail(job_id, attempt, backend)
        if reason is not None:
            self.emit(
                ev.JobAttemptFailed(
                    job_id=job_id,
                    attempt=attempt,
                    backend_id=backend,
                    reason=reason,
                    message=f"{reason.value} on {backend}",
                    occurred_at=self.now,
                )
            )
        else:
            self.emit(output_stored(job_id, attempt, size=10, occurred_at=self.now))
            self.emit(ev.JobSucceeded(job_id=job_id, attempt=attempt, backend_id=backend, occurred_at=self.now))
        self.settle()
        return True

    def run_all(self, limit: int = 10_000) -> None:
        self.settle()
        for _ in range(limit):
            if not self.step():
                return
        raise AssertionError("the fleet did not finish")

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def replayed(self) -> SchedulerState:
        return apply_all(SchedulerState(), self.log)
