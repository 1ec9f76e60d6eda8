"""`orch api`: the REST API, live stream, ComfyUI editor proxy and UI server."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register"]


def api_command(
    nats_url: str = typer.Option("nats://127.0.0.1:4222", envvar="ORCH_NATS_URL", help="NATS server URL."),
    host: str = typer.Option("127.0.0.1", envvar="ORCH_API_HOST", help="Address to listen on."),
    port: int = typer.Option(8080, envvar="ORCH_API_PORT", help="Port to listen on."),
    ui_dist: Path | None = typer.Option(None, envvar="ORCH_API_UI_DIST", help="The UI build to serve at /."),
    log_level: str = typer.Option("INFO", envvar="ORCH_API_LOG_LEVEL", help="Log level."),
) -> None:
    """Serve the API (FastAPI under uvicorn) against the orchestrator's NATS."""
    from orch_api import ApiSettings, run

    overrides: dict[str, object] = {"nats_url": nats_url, "host": host, "port": port, "log_level": log_level}
    if ui_dist is not None:
        overrides["ui_dist"] = ui_dist
    run(ApiSettings(**overrides))  # type: ignore[arg-type]


def register(app: typer.Typer) -> None:
    app.command("api")(api_command)
