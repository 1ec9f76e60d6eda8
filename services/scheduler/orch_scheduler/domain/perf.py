"""Measured speed: how long each workflow shape took on each backend, folded from JobStarted → JobSucceeded.

A job's run time is counted from the later of its JobStarted and the previous job's end on the same backend
(ComfyUI runs one prompt at a time, so time spent queued behind another prompt is not the job's). Only the
last `WINDOW` samples per (workflow signature, backend) are kept; placement reads their median.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_PRIOR_S", "WINDOW", "PerfStats"]

WINDOW = 15
DEFAULT_PRIOR_S = 10.0


@dataclass(slots=True)
class PerfStats:
    durations: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    last_backend: str | None = None  # the backend of the latest JobScheduled (round-robin's cursor)

    def record(self, signature: str, backend_id: str, seconds: float) -> None:
        samples = self.durations.setdefault((signature, backend_id), [])
        samples.append(max(0.0, seconds))
        if len(samples) > WINDOW:
            del samples[0]

    def median(self, signature: str | None, backend_id: str) -> float | None:
        samples = self.durations.get((signature or "", backend_id))
        return statistics.median(samples) if samples else None

    def longest(self, signature: str | None, backend_id: str) -> float | None:
        """The longest of the kept samples: a hang budget, where the median would call a slow run hung."""
        samples = self.durations.get((signature or "", backend_id))
        return max(samples) if samples else None

    def expected(self, signature: str | None, backend_id: str, prior: float = DEFAULT_PRIOR_S) -> float:
        """The median for this backend; else scaled from other backends by relative speed; else `prior`."""
        own = self.median(signature, backend_id)
        if own is not None:
            return own
        others = [statistics.median(v) for (sig, b), v in self.durations.items() if sig == (signature or "") and v]
        if not others:
            return prior
        return statistics.median(others) * self.relative_slowness(backend_id)

    def relative_slowness(self, backend_id: str) -> float:
        """This backend's time ÷ the fleet's median time, over the signatures it has run (1.0 when unknown)."""
        ratios: list[float] = []
        for (sig, b), samples in self.durations.items():
            if b != backend_id or not samples:
                continue
            fleet = [statistics.median(v) for (s, _), v in self.durations.items() if s == sig and v]
            reference = statistics.median(fleet)
            if reference > 0:
                ratios.append(statistics.median(samples) / reference)
        return statistics.median(ratios) if ratios else 1.0

    def snapshot(self) -> dict[str, Any]:
        return {
            "durations": {f"{s}@{b}": list(v) for (s, b), v in sorted(self.durations.items())},
            "last_backend": self.last_backend,
        }
