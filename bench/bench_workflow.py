"""Workflow intelligence benchmarks: UI→API conversion and object_info indexing.

- converting the largest template of comfyui-workflow-templates (target < 20 ms), raw floor: ``json.loads``
  of the same template;
- parsing + indexing a synthesized 50 MB / 8,000-class object_info (the recorded one replicated with renamed
  classes, COMBO lists padded with model file names; target < 2 s), raw floor: ``json.loads`` alone;
- the cached second ``index_for`` of the same body (sha256 of 50 MB + dict hit).

Run: ``python -m bench.bench_workflow [--quick]``.
"""

from __future__ import annotations

import importlib.resources
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orch_common.workflow import ObjectInfoIndex, WorkflowError, convert_ui_to_api, index_for, parse_ui
from orch_common.workflow import object_info as object_info_module

FIXTURES = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "comfyui"


def _timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"{statistics.median(samples) * 1000:.2f} ms (p90 {p90 * 1000:.2f} ms, n={len(samples)})"


def largest_template(index: ObjectInfoIndex) -> tuple[str, bytes]:
    """The largest template the recorded object_info can express."""
    root = Path(str(importlib.resources.files("comfyui_workflow_templates") / "templates"))
    for path in sorted(root.glob("*.json"), key=lambda p: p.stat().st_size, reverse=True):
        data = json.loads(path.read_bytes())
        if not (isinstance(data, dict) and isinstance(data.get("nodes"), list)):
            continue
        try:
            convert_ui_to_api(data, index)
        except WorkflowError:
            continue
        return path.name, path.read_bytes()
    raise RuntimeError("no template converts")


def synthesize_object_info(classes: int, target_bytes: int) -> bytes:
    """The recorded object_info replicated to ``classes`` classes, padded toward ``target_bytes``."""
    recorded: dict[str, Any] = json.loads((FIXTURES / "object_info.json").read_bytes())
    names = list(recorded)
    base = sum(len(json.dumps(recorded[n])) for n in names) / len(names) * classes
    per_class_pad = max(0, int((target_bytes - base) / classes))
    filler_count = per_class_pad // 40
    synthetic: dict[str, Any] = {}
    for i in range(classes):
        name = names[i % len(names)]
        new_name = name if i < len(names) else f"{name}__copy{i}"
        entry = json.loads(json.dumps(recorded[name]))
        entry["name"] = new_name
        if filler_count:
            optional = entry["input"].setdefault("optional", {})
            optional["padding_model_name"] = [
                [f"models/pack_{i}/model_{j:05d}.safetensors" for j in range(filler_count)]
            ]
        synthetic[new_name] = entry
    return json.dumps(synthetic).encode()


def run(quick: bool = False) -> str:
    lines = ["## Workflow intelligence (`bench/bench_workflow.py`)", ""]
    index = ObjectInfoIndex.from_bytes((FIXTURES / "object_info.json").read_bytes())
    name, raw = largest_template(index)
    data = json.loads(raw)
    convert_ui_to_api(data, index)  # warm the lazy class index
    repeat = 10 if quick else 50
    convert = _timed(lambda: convert_ui_to_api(json.loads(raw), index), repeat)
    floor = _timed(lambda: json.loads(raw), repeat)
    nodes = len(parse_ui(data).graph.nodes)
    lines += [
        "| measurement | median | target |",
        "| --- | --- | --- |",
        f"| convert largest template `{name}` ({len(raw) / 1024:.0f} KB, {nodes} top-level nodes), "
        f"json.loads + parse + convert | {_ms(convert)} | < 20 ms |",
        f"| raw floor: json.loads of that template | {_ms(floor)} | |",
    ]
    classes, size = (2000, 12_000_000) if quick else (8000, 50_000_000)
    body = synthesize_object_info(classes, size)
    used = list(convert_ui_to_api(data, index).values())
    class_names = {n["class_type"] for n in used}

    def parse_and_index() -> None:
        idx = ObjectInfoIndex.from_bytes(body)
        for cls in class_names:
            idx[cls]

    def parse_and_index_all() -> None:
        idx = ObjectInfoIndex.from_bytes(body)
        for cls in idx:
            idx[cls]

    runs = 3 if quick else 5
    parse = _timed(parse_and_index, runs)
    parse_all = _timed(parse_and_index_all, max(1, runs - 2))
    loads = _timed(lambda: json.loads(body), runs)
    object_info_module._CACHE.clear()
    first = _timed(lambda: index_for(body), 1)
    cached = _timed(lambda: index_for(body), runs)
    mb = len(body) / 1e6
    lines += [
        f"| parse + index a synthesized {mb:.0f} MB / {classes}-class object_info "
        f"(classes of that template, lazily) | {_ms(parse)} | < 2 s |",
        f"| same, indexing all {classes} classes | {_ms(parse_all)} | |",
        f"| raw floor: json.loads of the {mb:.0f} MB body | {_ms(loads)} | |",
        f"| `index_for` first call (sha256 + parse) | {_ms(first)} | |",
        f"| `index_for` cached second lookup (sha256 + dict hit) | {_ms(cached)} | |",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
