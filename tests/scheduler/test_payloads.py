"""The scheduler's memory of recent JobSubmitted payloads stays within its budget."""

from __future__ import annotations

import pytest

from orch_scheduler.payloads import SubmittedPayloads


def test_a_remembered_payload_is_returned_and_a_forgotten_one_is_not() -> None:
    kept = SubmittedPayloads(budget_chars=1000)
    kept.put("j1", '{"a": 1}')
    assert kept.get("j1") == '{"a": 1}'
    assert kept.get("j2") is None
    kept.discard("j1")
    assert kept.get("j1") is None and kept.chars == 0


def test_the_oldest_payloads_leave_when_the_budget_is_exceeded() -> None:
    kept = SubmittedPayloads(budget_chars=500)
    for i in range(5):
        kept.put(f"j{i}", "x" * 48)
    assert kept.chars <= 500
    assert [kept.get(f"j{i}") is not None for i in range(5)] == [False, False, False, True, True]


def test_a_payload_larger_than_the_budget_is_not_kept() -> None:
    kept = SubmittedPayloads(budget_chars=300)
    kept.put("big", "x" * 300)
    assert kept.get("big") is None and len(kept) == 0 and kept.chars == 0


def test_putting_a_job_again_replaces_its_payload() -> None:
    kept = SubmittedPayloads(budget_chars=1000)
    kept.put("j1", "aaaa")
    kept.put("j1", "bb")
    kept.put("j2", "cc")
    kept.discard("j2")
    assert kept.get("j1") == "bb" and len(kept) == 1
    only_j1 = SubmittedPayloads(budget_chars=1000)
    only_j1.put("j1", "bb")
    assert kept.chars == only_j1.chars  # nothing of "aaaa" or of j2 is still counted


def test_a_negative_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="budget_chars"):
        SubmittedPayloads(budget_chars=-1)
