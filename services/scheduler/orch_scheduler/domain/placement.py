"""Placement: which queued jobs go to which backends now. Pure: it reads the state and returns choices.

A job goes to a live, enabled backend that has every class in `required_classes` (and every file of
`required_models` when given); a pinned job goes only to its pin. No backend ever holds more than `max_inflight`
attempts at once (or, for very short jobs under `smart`, `max_depth`), so there is always room to fail over and no
backend hoards the queue. Jobs are taken by
priority (highest first); a job that waits for its retry time, or that no live backend can run, stays queued and
is skipped. Which job and which backend among the capable ones is the policy's choice (`domain.policy`):
`smart` by default, `least_loaded`, `fifo_speed_blind` and `round_robin` for comparison.
"""

from __future__ import annotations

from datetime import datetime

from orch_scheduler.domain.policy import Placement, PlacementPolicy, can_run, place_with
from orch_scheduler.domain.state import SchedulerState

__all__ = ["Placement", "PlacementPolicy", "can_run", "place"]


def place(
    state: SchedulerState,
    now: datetime,
    max_inflight: int,
    policy: PlacementPolicy | str = PlacementPolicy.SMART,
    *,
    queue_ahead_s: float = 0.0,
    max_depth: int = 0,
) -> list[Placement]:
    """The placements to make now, in the order they should be made (see `place_with` for the depth)."""
    return place_with(policy, state, now, max_inflight, queue_ahead_s=queue_ahead_s, max_depth=max_depth)
