"""Smoke runs of the job-path and live benchmarks: `run(quick=True)` completes and returns its section.

Sizes are shrunk far below the quick ones so the whole file stays well under a minute; no figure is asserted
(speed belongs to `make bench`), only what must hold at any size: every job succeeded, the log equals the
stream, and no terminal state was dropped.
"""

from __future__ import annotations

import pytest

from bench import bench_dispatch, bench_live

pytestmark = pytest.mark.timeout(120)


def test_the_dispatch_benchmark_returns_a_section_where_every_job_succeeded_and_the_log_equals_the_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        bench_dispatch,
        "QUICK",
        {
            "dispatch": {"jobs": 12, "backends": 1, "in_flight": 2, "floors": 20},
            "throughput": {"jobs": 12, "backends": 2},
        },
    )
    section = bench_dispatch.run(quick=True)
    assert section.startswith("## Job path")
    assert "### Dispatch latency" in section and "### Throughput" in section
    assert "floor: JetStream publish + ack" in section and "floor: bare `POST /prompt`" in section
    assert "terminal states: {'succeeded': 12}" in section
    assert "| every job succeeded (live events and the log's job.succeeded) | yes" in section
    assert "(yes) |" in section, "the DuckDB log and the stream hold as many events"
    assert "(12 succeeded)" in section, "the floor with no plumbing ran every job"


def test_the_live_benchmark_returns_a_section_with_no_terminal_state_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_live, "QUICK", {"duration_s": 4.0, "clients": 2, "backends": 3, "job_seconds": 1.0})
    section = bench_live.run(quick=True)
    assert section.startswith("## Live stream")
    assert "progress `sent_at` → client" in section and "floor: core NATS publish" in section
    assert "| terminal states missing per client" in section and "| [0, 0] |" in section
    assert "| client errors | none |" in section
