"""The seam between the sim server and the node implementations.

The server owns one `SimState` and builds one `NodeContext` per node execution; an executor receives the
context and the node's fully resolved inputs and returns a `NodeResult`.

Errors an executor raises:

    SimInterrupted          the run was interrupted (raised by `NodeContext.check_interrupted` / `sleep`)
    <ComfyUI's own types>   runtime failures use the exception type ComfyUI would raise (IndexError, ValueError, …)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["Executor", "NodeContext", "NodeResult", "SimDirs", "SimInterrupted", "SimState"]


@dataclass
class SimDirs:
    """The three file roots of one sim server, like ComfyUI's `input/`, `output/` and `temp/`."""

    input: Path
    output: Path
    temp: Path


@dataclass
class SimState:
    """Mutable per-process state that outlives prompts (which checkpoint is "in VRAM", how fast the fake GPU is)."""

    loaded_checkpoint: str | None = None
    model_load_seconds: float = 0.0
    step_seconds: float = 0.05
    speed: float = 1.0


@dataclass
class NodeContext:
    """Everything an executor may use besides its inputs."""

    prompt_id: str
    node_id: str
    class_type: str
    dirs: SimDirs
    state: SimState
    prompt: dict[str, Any]
    extra_pnginfo: dict[str, Any] | None
    previews_enabled: bool
    report_progress: Callable[[int, int], Awaitable[None]]
    send_preview: Callable[[Image.Image], Awaitable[None]]
    send_image_frame: Callable[[Image.Image], Awaitable[None]]
    check_interrupted: Callable[[], None]
    sleep: Callable[[float], Awaitable[None]]


class SimInterrupted(Exception):
    """The prompt was interrupted while this node ran."""


@dataclass
class NodeResult:
    """One value per output slot, and the UI dict that becomes `executed.output` / history outputs (None: none)."""

    outputs: tuple[Any, ...]
    ui: dict[str, Any] | None = None


Executor = Callable[[NodeContext, dict[str, Any]], Awaitable[NodeResult]]
