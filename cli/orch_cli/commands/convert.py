"""`orch convert`: turn a UI workflow into the API prompt the ComfyUI frontend would queue."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register"]


def convert_command(
    workflow: Path = typer.Argument(..., help="UI-format workflow JSON (what the editor saves)."),
    object_info: Path = typer.Option(
        ..., "--object-info", help="The target server's GET /object_info body (JSON file)."
    ),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the API prompt here (default: stdout)."),
) -> None:
    """Convert WORKFLOW to API format using the server's object_info; fail loudly on anything unknown."""
    import json

    from orch_common.workflow import ObjectInfoIndex, WorkflowError, convert_ui_to_api

    def fail(message: str) -> None:
        typer.echo(f"orch convert: {message}", err=True)
        raise typer.Exit(code=1)

    try:
        data = json.loads(workflow.read_bytes())
        index = ObjectInfoIndex.from_bytes(object_info.read_bytes())
        prompt = convert_ui_to_api(data, index)
    except OSError as exc:
        fail(f"cannot read {exc.filename}: {exc.strerror}")
        return
    except json.JSONDecodeError as exc:
        fail(f"{workflow} is not valid JSON: {exc}")
        return
    except WorkflowError as exc:
        fail(str(exc))
        return
    text = json.dumps(prompt, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


def register(app: typer.Typer) -> None:
    app.command("convert")(convert_command)
