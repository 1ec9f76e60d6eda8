"""Where the recorded ComfyUI traffic lives, and small readers for it."""

from __future__ import annotations

import json
from typing import Any

from tests.helpers import FIXTURES


def load_json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def ws_trace(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIXTURES / name).read_text().splitlines() if line.strip()]


def ws_trace_names() -> list[str]:
    return sorted(p.name for p in FIXTURES.glob("ws_trace_*.jsonl"))
