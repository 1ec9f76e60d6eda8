"""Shared test helpers: where the recordings are, free ports, and real servers (nats-server, orch sim)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = (REPO / ".." / "shared" / "fixtures" / "comfyui").resolve()

__all__ = ["FIXTURES", "REPO"]
