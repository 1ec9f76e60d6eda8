"""What one `orch sim` process is told at start-up: address, data directory, pacing, faults, fake device."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Faults", "SimConfig", "parse_byte_size", "parse_models"]


@dataclass
class Faults:
    """Faults the sim injects; changeable at run time through `POST /sim/faults`.

    A node matches `fail_at_node` / `hang_at_node` when its id or its class_type equals the value.
    `crash_after_steps` ends the process (`os._exit`) once a job has reported that many progress steps.
    """

    fail_at_node: str | None = None
    crash_after_steps: int | None = None
    hang_at_node: str | None = None
    slow_object_info: float = 0.0

    @staticmethod
    def matches(selector: str | None, node_id: str, class_type: str) -> bool:
        return selector is not None and selector in (node_id, class_type)


@dataclass
class SimConfig:
    """Start-up options of the simulator (the CLI flags of `python -m orch_sim` / `orch sim`)."""

    host: str = "127.0.0.1"
    port: int = 8188
    data_dir: Path = field(default_factory=lambda: Path("sim-data"))
    object_info_file: Path | None = None
    speed: float = 1.0
    step_seconds: float = 0.05
    model_load_seconds: float = 0.0
    models: dict[str, list[str]] = field(default_factory=dict)
    demo_models: bool = False
    faults: Faults = field(default_factory=Faults)
    gpu_name: str | None = None
    vram: int = 24 * 1024**3
    cors_origin: str | None = None
    accept_any_prompt_id: bool = False
    max_upload_size: int = 100 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError(f"--speed must be positive, got {self.speed}")
        if self.step_seconds < 0 or self.model_load_seconds < 0:
            raise ValueError("--step-seconds and --model-load-seconds must not be negative")


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_byte_size(text: str) -> int:
    """`24GB`, `24G`, `512MiB` or a plain byte count → bytes (binary units)."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"not a byte size: {text!r} (try 24GB or 25769803776)")
    unit = (match.group(2) or "").lower()[:1]
    return int(float(match.group(1)) * _UNITS[unit])


def parse_models(specs: list[str]) -> dict[str, list[str]]:
    """`["checkpoints=a.safetensors,b.safetensors", "loras=x.safetensors"]` → {folder: [files]}."""
    models: dict[str, list[str]] = {}
    for spec in specs:
        folder, sep, names = spec.partition("=")
        if not sep or not folder.strip():
            raise ValueError(f"--models expects folder=a,b, got {spec!r}")
        files = [name.strip() for name in names.split(",") if name.strip()]
        models.setdefault(folder.strip(), []).extend(files)
    return models
