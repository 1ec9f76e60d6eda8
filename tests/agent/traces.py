"""Recorded websocket traces replayed as the agent's socket would deliver them."""

from __future__ import annotations

import json
from typing import Any

from orch_common.comfy.binary import (
    ImageFormat,
    PreviewImage,
    PreviewImageWithMetadata,
    PreviewMetadata,
)
from orch_common.comfy.wire import parse_ws_message
from tests.helpers import FIXTURES


def raw_trace(run: str) -> list[dict[str, Any]]:
    path = FIXTURES / f"ws_trace_{run}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def messages(run: str) -> list[Any]:
    """Every frame of a trace, parsed; binary frames rebuilt from their recorded summary."""
    out: list[Any] = []
    for line in raw_trace(run):
        if line.get("binary"):
            magic = bytes.fromhex(line.get("image_magic_hex", ""))
            if line["event_type"] == 1:
                out.append(PreviewImage(format=ImageFormat(line["image_format"]), data=magic))
            elif line["event_type"] == 4:
                out.append(PreviewImageWithMetadata(metadata=PreviewMetadata(**line["metadata"]), data=magic))
            continue
        out.append(parse_ws_message(line))
    return out


def prompt_id_of(run: str) -> str:
    for line in raw_trace(run):
        data = line.get("data") if isinstance(line.get("data"), dict) else {}
        if line.get("type") == "execution_start":
            return str(data["prompt_id"])
    raise LookupError(f"trace {run} has no execution_start")


def workflow(run: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((FIXTURES / "workflows" / f"api_{run}.json").read_text())
    return result
