"""A recording NodeContext and a tiny API-prompt runner, for calling executors directly."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from orch_sim.nodes import NodeContext, NodeResult, SimDirs, SimInterrupted, SimState, get_executor

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "comfyui"


def fixture_json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def make_dirs(root: Path) -> SimDirs:
    dirs = SimDirs(input=root / "input", output=root / "output", temp=root / "temp")
    for path in (dirs.input, dirs.output, dirs.temp):
        path.mkdir(parents=True, exist_ok=True)
    return dirs


@dataclass
class Recorder:
    """What executors told the client, in order, plus an interrupt switch."""

    events: list[tuple[str, Any]] = field(default_factory=list)
    slept: list[float] = field(default_factory=list)
    interrupt_after_sleeps: int | None = None

    def progress(self) -> list[tuple[int, int]]:
        return [value for kind, value in self.events if kind == "progress"]

    def previews(self) -> list[Image.Image]:
        return [value for kind, value in self.events if kind == "preview"]

    def frames(self) -> list[Image.Image]:
        return [value for kind, value in self.events if kind == "frame"]


def make_context(
    dirs: SimDirs,
    state: SimState | None = None,
    *,
    recorder: Recorder | None = None,
    class_type: str = "Node",
    node_id: str = "1",
    prompt: dict[str, Any] | None = None,
    extra_pnginfo: dict[str, Any] | None = None,
    previews: bool = False,
) -> NodeContext:
    rec = recorder if recorder is not None else Recorder()

    def check() -> None:
        if rec.interrupt_after_sleeps is not None and len(rec.slept) >= rec.interrupt_after_sleeps:
            raise SimInterrupted("interrupted")

    async def report(value: int, maximum: int) -> None:
        rec.events.append(("progress", (value, maximum)))

    async def preview(image: Image.Image) -> None:
        rec.events.append(("preview", image))

    async def frame(image: Image.Image) -> None:
        rec.events.append(("frame", image))

    async def sleep(seconds: float) -> None:
        check()
        rec.slept.append(seconds)
        await asyncio.sleep(0)
        check()

    return NodeContext(
        prompt_id="p-1",
        node_id=node_id,
        class_type=class_type,
        dirs=dirs,
        state=state if state is not None else SimState(step_seconds=0.0),
        prompt=prompt if prompt is not None else {},
        extra_pnginfo=extra_pnginfo,
        previews_enabled=previews,
        report_progress=report,
        send_preview=preview,
        send_image_frame=frame,
        check_interrupted=check,
        sleep=sleep,
    )


async def call(class_type: str, inputs: dict[str, Any], ctx: NodeContext) -> NodeResult:
    executor = get_executor(class_type)
    assert executor is not None, f"no executor for {class_type}"
    ctx.class_type = class_type
    return await executor(ctx, inputs)


async def run_prompt(
    prompt: dict[str, Any],
    dirs: SimDirs,
    state: SimState | None = None,
    *,
    recorder: Recorder | None = None,
    extra_pnginfo: dict[str, Any] | None = None,
    previews: bool = False,
) -> dict[str, NodeResult]:
    """Execute every node of an API-format prompt (links resolved depth-first); results by node id."""
    state = state if state is not None else SimState(step_seconds=0.0)
    results: dict[str, NodeResult] = {}

    async def run(node_id: str) -> NodeResult:
        if node_id in results:
            return results[node_id]
        node = prompt[node_id]
        inputs: dict[str, Any] = {}
        for name, value in node["inputs"].items():
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                upstream = await run(value[0])
                inputs[name] = upstream.outputs[value[1]]
            else:
                inputs[name] = value
        ctx = make_context(
            dirs,
            state,
            recorder=recorder,
            node_id=node_id,
            prompt=prompt,
            extra_pnginfo=extra_pnginfo,
            previews=previews,
        )
        results[node_id] = await call(node["class_type"], inputs, ctx)
        return results[node_id]

    for node_id in prompt:
        await run(node_id)
    return results
