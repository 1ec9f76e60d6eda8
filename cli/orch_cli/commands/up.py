"""`orch up`: the whole stack on one machine — nats, scheduler, api, and an agent per ComfyUI server.

Without configured ComfyUI servers it starts a small local fleet of `orch sim` servers (different speeds and
fake GPUs), each with its agent. Ctrl-C stops everything; the data directory keeps the log for the next start.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import typer

__all__ = ["register"]

# The demo fleet: name, speed factor, fake GPU. Different speeds make placement visible.
SIM_FLEET = (
    ("sim-1", 1.0, "Simulated RTX 4090", 24),
    ("sim-2", 0.6, "Simulated RTX 3080", 10),
    ("sim-3", 0.35, "Simulated RTX 2060", 6),
)


def _wait_http(url: str, timeout: float) -> bool:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def up_command(
    data_dir: Path = typer.Option(
        Path("data"), envvar="ORCH_DATA_DIR", help="Where the log, NATS store and outputs live."
    ),
    port: int = typer.Option(8080, envvar="ORCH_API_PORT", help="Port of the canvas and API."),
    host: str = typer.Option("127.0.0.1", envvar="ORCH_API_HOST", help="Address of the canvas and API."),
    nats_port: int = typer.Option(4222, envvar="ORCH_NATS_PORT", help="NATS client port."),
    comfy_url: list[str] = typer.Option([], "--comfy-url", help="A ComfyUI server to drive (repeatable)."),
    config: Path | None = typer.Option(None, "--config", help="TOML file listing \\[\\[backends]] with url (and id)."),
    sims: int = typer.Option(3, envvar="ORCH_SIMS", help="Simulated servers to start when no ComfyUI is configured."),
    sim_port_base: int = typer.Option(8190, help="First port of the simulated servers."),
) -> None:
    """Start nats, scheduler, api, and an agent per ComfyUI server (or a local fleet of simulated servers)."""
    import nats as nats_client

    from orch_cli.fleet_config import BackendConfig, ConfigError, load_backends
    from orch_cli.supervisor import Child, Supervisor
    from orch_common.natsutil import NatsServer, NatsServerError, ensure_topology

    if config is None and Path("orch.toml").exists():
        config = Path("orch.toml")
    try:
        backends = load_backends(comfy_url, os.environ.get("ORCH_COMFY_URLS"), config)
    except ConfigError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc

    data_dir.mkdir(parents=True, exist_ok=True)
    logs = data_dir / "logs"
    nats = NatsServer(port=nats_port, store_dir=data_dir / "nats", log_file=logs / "nats.log")
    logs.mkdir(parents=True, exist_ok=True)
    try:
        nats.start()
    except NatsServerError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc

    import asyncio

    async def provision() -> None:
        nc = await nats_client.connect(nats.url)
        try:
            await ensure_topology(nc.jetstream())
        finally:
            await nc.close()

    asyncio.run(provision())
    sup = Supervisor(logs)
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        sup.start(Child("scheduler", ["scheduler", "--nats-url", nats.url, "--db", str(data_dir / "events.duckdb")]))
        sup.start(Child("api", ["api", "--nats-url", nats.url, "--port", str(port), "--host", host]))
        if not backends:
            for i, (name, speed, gpu, vram_gb) in enumerate(SIM_FLEET[: max(0, sims)]):
                sim_port = sim_port_base + i
                sup.start(
                    Child(
                        name,
                        [
                            "sim",
                            "--port",
                            str(sim_port),
                            "--data-dir",
                            str(data_dir / "sims" / name),
                            "--speed",
                            str(speed),
                            "--gpu-name",
                            gpu,
                            "--vram",
                            f"{vram_gb}GB",
                            "--demo-models",
                        ],
                    )
                )
                backends.append(BackendConfig(name, f"http://127.0.0.1:{sim_port}"))
        for backend in backends:
            sup.start(
                Child(
                    f"agent-{backend.id}",
                    ["agent", "--nats-url", nats.url, "--comfy-url", backend.url, "--id", backend.id],
                )
            )
        url = f"http://{host}:{port}/"
        if _wait_http(f"http://{host}:{port}/healthz", 30.0):
            typer.secho(f"\nComfyUI Orchestrator is up: {url}", fg="green", bold=True)
        else:
            typer.secho(f"the API did not answer within 30 s; see {logs}/api.log", fg="yellow", err=True)
        typer.echo(f"  backends: {', '.join(f'{b.id} ({b.url})' for b in backends)}")
        typer.echo(f"  NATS: {nats.url}   data: {data_dir}   logs: {logs}")
        typer.echo("  Ctrl-C stops everything; the data directory keeps the log for the next start.")
        while not stopping:
            sup.poll()
            time.sleep(0.2)
    finally:
        typer.echo("stopping…")
        sup.stop()
        nats.stop()


def register(app: typer.Typer) -> None:
    app.command("up")(up_command)
