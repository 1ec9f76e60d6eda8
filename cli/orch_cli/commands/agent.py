"""`orch agent`: run the backend agent beside one ComfyUI server."""

from __future__ import annotations

import typer

__all__ = ["register"]


def agent_command(
    nats_url: str = typer.Option(
        "nats://127.0.0.1:4222", envvar=["ORCH_AGENT_NATS_URL", "ORCH_NATS_URL"], help="NATS server URL."
    ),
    comfy_url: str = typer.Option(
        "http://127.0.0.1:8188", envvar="ORCH_AGENT_COMFY_URL", help="The ComfyUI server this agent drives."
    ),
    backend_id: str | None = typer.Option(
        None, "--id", envvar="ORCH_AGENT_BACKEND_ID", help="Backend id (default: the host name)."
    ),
    log_level: str = typer.Option("INFO", envvar="ORCH_AGENT_LOG_LEVEL", help="Logging level."),
) -> None:
    """Register the ComfyUI server with the orchestrator, run its jobs and report everything as events."""
    import logging

    from orch_agent import AgentSettings, run_agent
    from orch_common.eventloop import run

    overrides: dict[str, object] = {"nats_url": nats_url, "comfy_url": comfy_url, "log_level": log_level}
    if backend_id:
        overrides["backend_id"] = backend_id
    settings = AgentSettings(**overrides)  # type: ignore[arg-type]
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run(run_agent(settings))


def register(app: typer.Typer) -> None:
    app.command("agent")(agent_command)
