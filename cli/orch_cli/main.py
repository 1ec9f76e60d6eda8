"""The `orch` command: one entry point whose subcommands start each part of the orchestrator.

Each subcommand lives in `orch_cli.commands.<name>` and exposes `register(app)`; the heavy imports of the
service it starts happen inside the command function, so `orch --help` stays fast.
"""

from __future__ import annotations

import importlib

import typer

__all__ = ["app"]

app = typer.Typer(
    name="orch",
    help="ComfyUI Orchestrator: drive a fleet of ComfyUI servers as one.",
    no_args_is_help=True,
    add_completion=False,
)

# One line per subcommand module; each module's `register(app)` adds its command(s).
COMMAND_MODULES = (
    "orch_cli.commands.up",
    "orch_cli.commands.submit",
    "orch_cli.commands.diagnose",
    "orch_cli.commands.convert",
    "orch_cli.commands.nats",
    "orch_cli.commands.scheduler",
    "orch_cli.commands.agent",
    "orch_cli.commands.api",
    "orch_cli.commands.sim",
)

for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)
