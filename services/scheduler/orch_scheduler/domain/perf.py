"""Measured speed: how long each workflow shape took on each backend, folded from JobStarted → JobSucceeded.

A job's run time is counted from the later of its JobStarted and the previous job's end on the same backend
(ComfyUI runs one prompt at a time, so time spent queued behind another prompt is not the job's). Only the
last `WINDOW` samples per (workflow signature, backend) are kept; placement reads their median.

When the fold says whether a run first had to load another checkpoint (`cold`), warm and cold runs are also
kept apart: the expected duration is then the warm median, and the backend's checkpoint switch cost is measured
as its cold median less its warm median, over the shapes that have both (`switch_seconds`).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_PRIOR_S", "WINDOW", "PerfStats"]

WINDOW = 15
DEFAULT_PRIOR_S = 10.0


def _push(samples: list[float], seconds: float) -> None:
    samples.append(seconds)
    if len(samples) > WINDOW:
        del samples[0]


@dataclass(slots=True)
class PerfStats:
    durations: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # every run (the hang budget)
    warm: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # runs with their checkpoint loaded
    cold: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # runs that loaded another first
    last_backend: str | None = None  # the backend of the latest JobScheduled (round-robin's cursor)
    _memo: dict[tuple[str, str], float | None] = field(default_factory=dict, repr=False, compare=False)

    def record(self, signature: str, backend_id: str, seconds: float, *, cold: bool | None = None) -> None:
        """One finished run; `cold`: whether it first loaded another checkpoint (None: not known)."""
        seconds = max(0.0, seconds)
        self._memo.clear()
        _push(self.durations.setdefault((signature, backend_id), []), seconds)
        if cold is not None:
            _push((self.cold if cold else self.warm).setdefault((signature, backend_id), []), seconds)

    def median(self, signature: str | None, backend_id: str) -> float | None:
        """The warm median when warm runs were told apart, else the median of every run."""
        key = (signature or "", backend_id)
        samples = self.warm.get(key) or self.durations.get(key)
        return statistics.median(samples) if samples else None

    def longest(self, signature: str | None, backend_id: str) -> float | None:
        """The longest of the kept samples: a hang budget, where the median would call a slow run hung."""
        samples = self.durations.get((signature or "", backend_id))
        return max(samples) if samples else None

    def expected(self, signature: str | None, backend_id: str, prior: float = DEFAULT_PRIOR_S) -> float:
        """The median for this backend; else the median over the other backends that ran this shape of their
        median times how much longer this backend takes than each (`ratio`; the fleet-relative slowness when they
        share no shape); for a shape never run, the fleet's typical run (the median over shapes) scaled by this
        backend's relative slowness; `prior` when nothing was measured."""
        own = self.median(signature, backend_id)
        if own is not None:
            return own
        sig = signature or ""
        others = [(b, m) for (s, b) in self.durations if s == sig and (m := self.median(s, b)) is not None]
        if others:
            scaled = [m * r for b, m in others if (r := self.ratio(backend_id, b)) is not None]
            if scaled:
                return statistics.median(scaled)
            return statistics.median(m for _, m in others) * self.relative_slowness(backend_id)
        typical = self.typical()
        return prior if typical is None else typical * self.relative_slowness(backend_id)

    def known(self, signature: str | None) -> bool:
        """Whether any backend has run this workflow shape."""
        key = ("known", signature or "")
        if key not in self._memo:
            self._memo[key] = 1.0 if any(s == (signature or "") for s, _ in self.durations) else 0.0
        return bool(self._memo[key])

    def typical(self) -> float | None:
        """The median over workflow shapes of their median run across backends (None before any run)."""
        key = ("typical", "")
        if key not in self._memo:
            self._memo[key] = self._typical()
        return self._memo[key]

    def _typical(self) -> float | None:
        by_shape: dict[str, list[float]] = {}
        for s, b in self.durations:
            m = self.median(s, b)
            if m is not None:
                by_shape.setdefault(s, []).append(m)
        return statistics.median(statistics.median(v) for v in by_shape.values()) if by_shape else None

    def ratio(self, backend_id: str, other: str) -> float | None:
        """How much longer `backend_id` takes than `other`: the median over the shapes both have run of the ratio
        of their medians (None when they share none)."""
        key = ("ratio", f"{backend_id}\n{other}")
        if key not in self._memo:
            ratios = [
                mine / theirs
                for s, b in self.durations
                if b == backend_id
                and (mine := self.median(s, b)) is not None
                and (theirs := self.median(s, other)) is not None
                and theirs > 0
            ]
            self._memo[key] = statistics.median(ratios) if ratios else None
        return self._memo[key]

    def relative_slowness(self, backend_id: str) -> float:
        """This backend's time ÷ the fleet's median time, over the signatures it has run (1.0 when unknown)."""
        key = ("slowness", backend_id)
        value = self._memo.get(key)
        if value is None:
            value = self._memo[key] = self._relative_slowness(backend_id)
        return value

    def _relative_slowness(self, backend_id: str) -> float:
        ratios: list[float] = []
        for sig, b in self.durations:
            if b != backend_id:
                continue
            mine = self.median(sig, b)
            fleet = [m for (s, other) in self.durations if s == sig and (m := self.median(s, other)) is not None]
            if mine is None or not fleet:
                continue
            reference = statistics.median(fleet)
            if reference > 0:
                ratios.append(mine / reference)
        return statistics.median(ratios) if ratios else 1.0

    def switch_seconds(self, backend_id: str) -> float | None:
        """What loading another checkpoint adds to a run on this backend: the median over workflow shapes of
        (cold median − warm median); None until some shape has both."""
        key = ("switch", backend_id)
        if key not in self._memo:
            self._memo[key] = self._switch_seconds(backend_id)
        return self._memo[key]

    def _switch_seconds(self, backend_id: str) -> float | None:
        extra = [
            statistics.median(cold) - statistics.median(warm)
            for (sig, b), cold in self.cold.items()
            if b == backend_id and cold and (warm := self.warm.get((sig, b)))
        ]
        return max(0.0, statistics.median(extra)) if extra else None

    def snapshot(self) -> dict[str, Any]:
        return {
            "durations": {f"{s}@{b}": list(v) for (s, b), v in sorted(self.durations.items())},
            "warm": {f"{s}@{b}": list(v) for (s, b), v in sorted(self.warm.items())},
            "cold": {f"{s}@{b}": list(v) for (s, b), v in sorted(self.cold.items())},
            "last_backend": self.last_backend,
        }
