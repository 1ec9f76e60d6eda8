"""`orch submit workflow.json [--wait]`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

__all__ = ["register"]


def submit_command(
    workflow: Path = typer.Argument(..., help="A workflow in API or UI format (JSON)."),
    wait: bool = typer.Option(False, "--wait", help="Show live progress per node until the job ends."),
    backend: str | None = typer.Option(None, help="Pin the job to this backend id."),
    api: str = typer.Option("http://127.0.0.1:8080", envvar="ORCH_API_URL", help="The orchestrator's API."),
    download: Path | None = typer.Option(None, help="With --wait: save the outputs into this directory."),
    image: list[str] = typer.Option(
        [], "--image", metavar="NODE=FILE", help="Upload FILE as node NODE's image (LoadImage); repeatable."
    ),
) -> None:
    """Submit a workflow to the orchestrator; with --wait, follow it and say where the outputs are."""
    import httpx
    from rich.console import Console
    from rich.markup import escape

    from orch_cli.submit import ImageInput, SubmitError, submit_workflow, wait_for_job

    # lines are never broken to the terminal's width: a script reads whole paths, URLs and messages
    console = Console(soft_wrap=True)
    errors = Console(stderr=True, soft_wrap=True)
    try:
        images = [ImageInput.parse(text) for text in image]
        job_id = asyncio.run(submit_workflow(api, workflow, backend, images))
    except SubmitError as exc:
        errors.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    console.print(f"submitted job [bold]{job_id}[/]")
    if not wait:
        console.print(f"follow it with: curl {api}/api/jobs/{job_id}")
        return
    job = asyncio.run(wait_for_job(api, job_id, console))
    if job["state"] != "succeeded":
        error = job.get("error") or {}
        where = f" at node {error['node_id']}" if error.get("node_id") else ""
        errors.print(f"[red]job {job['state']}{escape(where)}[/]: {escape(str(error.get('message', '')))}")
        raise typer.Exit(1)
    for output in job.get("outputs", []):
        url = f"{api}/api/artifacts/{output['artifact_id']}"
        line = f"  {output['kind']:<6} node {output['node_id']:<4} {output['filename']:<32} {url}"
        if download is not None:
            download.mkdir(parents=True, exist_ok=True)
            target = download / output["filename"]
            target.write_bytes(httpx.get(url, timeout=60).content)
            line += f" → {target}"
        console.print(line)


def register(app: typer.Typer) -> None:
    app.command("submit")(submit_command)
