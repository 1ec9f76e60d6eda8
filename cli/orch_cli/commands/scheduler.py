"""`orch scheduler`: run the scheduler service (DuckDB event log, fold, placement, retries, RPC)."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register"]


def scheduler_command(
    nats_url: str = typer.Option(None, envvar="ORCH_NATS_URL", help="NATS server URL."),
    db: Path = typer.Option(None, help="DuckDB event log file (default: ORCH_SCHEDULER_DB or data/scheduler.duckdb)."),
    max_inflight_per_backend: int = typer.Option(None, help="Attempts one backend may hold at once (default 2)."),
    log_level: str = typer.Option(None, help="Logging level."),
) -> None:
    """Run the scheduler: consume events into DuckDB, place jobs on backends, retry, answer RPCs."""
    from orch_scheduler.main import run
    from orch_scheduler.settings import SchedulerSettings

    overrides: dict[str, object] = {
        "nats_url": nats_url,
        "db": db,
        "max_inflight_per_backend": max_inflight_per_backend,
        "log_level": log_level,
    }
    run(SchedulerSettings.model_validate({k: v for k, v in overrides.items() if v is not None}))


def register(app: typer.Typer) -> None:
    app.command("scheduler")(scheduler_command)
