"""`orch sim`: run the ComfyUI-compatible test server. Every option is `python -m orch_sim`'s (see --help)."""

from __future__ import annotations

import typer

__all__ = ["register"]


def sim_command(ctx: typer.Context) -> None:
    """Run orch sim, a ComfyUI-compatible test server (try `orch sim --help`)."""
    from orch_sim.cli import main

    main(list(ctx.args))


def register(app: typer.Typer) -> None:
    app.command(
        "sim",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
        add_help_option=False,
    )(sim_command)
