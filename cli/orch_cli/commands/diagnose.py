"""`orch diagnose URL`."""

from __future__ import annotations

import asyncio

import typer

__all__ = ["register"]


def diagnose_command(
    url: str = typer.Argument(..., help="The ComfyUI server, e.g. http://127.0.0.1:8188"),
    timeout: float = typer.Option(10.0, help="Seconds allowed for each request."),
) -> None:
    """Check a ComfyUI server: reachable, version, queue, history, object_info, an image round trip, websocket."""
    from orch_cli.diagnose import diagnose

    checks = asyncio.run(diagnose(url, timeout))
    for check in checks:
        mark = typer.style("ok  ", fg="green") if check.ok else typer.style("FAIL", fg="red", bold=True)
        typer.echo(f"{mark} {check.name:<32} {check.detail}  ({check.seconds * 1000:.0f} ms)")
    if not all(c.ok for c in checks) or len(checks) < 6:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("diagnose")(diagnose_command)
