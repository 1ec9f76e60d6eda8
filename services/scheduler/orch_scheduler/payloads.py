"""The JSON payloads of recently submitted jobs, kept so a placement does not read its job back from the log.

`SubmittedPayloads` is bounded by the characters it holds, each entry also charged a fixed overhead for its
key and slot (oldest out first); a job not held any more (evicted, or submitted before a restart) is read from
the log by the caller.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["DEFAULT_BUDGET_CHARS", "SubmittedPayloads"]

DEFAULT_BUDGET_CHARS = 8 * 1024 * 1024
_ENTRY_OVERHEAD = 200  # what a dict slot, the key string and the str header cost beside the payload itself


class SubmittedPayloads:
    """Job id → its `JobSubmitted` payload, for at most `budget_chars` characters (payloads + overheads) in all."""

    def __init__(self, budget_chars: int = DEFAULT_BUDGET_CHARS) -> None:
        if budget_chars < 0:
            raise ValueError(f"budget_chars must be ≥ 0, not {budget_chars}")
        self.budget_chars = budget_chars
        self.chars = 0
        self._payloads: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._payloads)

    def put(self, job_id: str, payload: str) -> None:
        """Remember `payload` (a payload larger than the whole budget is not kept)."""
        self.discard(job_id)
        if _cost(job_id, payload) > self.budget_chars:
            return
        self._payloads[job_id] = payload
        self.chars += _cost(job_id, payload)
        while self.chars > self.budget_chars:
            old_id, oldest = self._payloads.popitem(last=False)
            self.chars -= _cost(old_id, oldest)

    def get(self, job_id: str) -> str | None:
        return self._payloads.get(job_id)

    def discard(self, job_id: str) -> None:
        old = self._payloads.pop(job_id, None)
        if old is not None:
            self.chars -= _cost(job_id, old)


def _cost(job_id: str, payload: str) -> int:
    return len(payload) + len(job_id) + _ENTRY_OVERHEAD
