"""Every executor honours its recorded object_info: it runs on defaults and returns its declared output types."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from orch_sim.nodes import augment_object_info, default_models, get_executor
from orch_sim.nodes.catalog import _EXECUTORS
from orch_sim.nodes.values import (
    SimClip,
    SimClipVision,
    SimClipVisionOutput,
    SimConditioning,
    SimControlNet,
    SimGuider,
    SimModel,
    SimNoise,
    SimSampler,
    SimStyleModel,
    SimUpscaleModel,
    SimVae,
    SimVideo,
)

from .fakes import call, fixture_json, make_context, make_dirs

OBJECT_INFO = augment_object_info(fixture_json("object_info.json"), default_models())
IMAGE = np.full((1, 64, 64, 3), 0.5, np.float32)

SAMPLES: dict[str, Any] = {
    "IMAGE": IMAGE,
    "MASK": np.full((1, 64, 64), 0.5, np.float32),
    "LATENT": {"samples": np.zeros((1, 4, 8, 8), np.float32)},
    "MODEL": SimModel("m.safetensors"),
    "CLIP": SimClip("c.safetensors"),
    "VAE": SimVae("v.safetensors"),
    "CLIP_VISION": SimClipVision("cv.safetensors"),
    "CONDITIONING": SimConditioning(("a prompt",)),
    "CONTROL_NET": SimControlNet("cn.safetensors"),
    "UPSCALE_MODEL": SimUpscaleModel("2x.pth", 2),
    "SIGMAS": np.linspace(14.6, 0.0, 4).astype(np.float32),
    "SAMPLER": SimSampler("euler"),
    "NOISE": SimNoise(1),
    "GUIDER": SimGuider(SimModel("m"), SimConditioning(("x",)), None, 7.0),
    "VIDEO": SimVideo(np.zeros((3, 16, 16, 3), np.float32), 8.0),
    "CLIP_VISION_OUTPUT": SimClipVisionOutput("d"),
    "STYLE_MODEL": SimStyleModel("s.safetensors"),
    "STRING": "some text 42",
    "*": "anything",
}

CHECKS: dict[str, Any] = {
    "IMAGE": lambda v: isinstance(v, np.ndarray) and v.ndim == 4 and v.dtype == np.float32,
    "MASK": lambda v: isinstance(v, np.ndarray) and v.ndim == 3 and v.dtype == np.float32,
    "LATENT": lambda v: isinstance(v, dict) and isinstance(v["samples"], np.ndarray) and v["samples"].ndim in (4, 5),
    "SIGMAS": lambda v: isinstance(v, np.ndarray) and v.ndim == 1,
    "INT": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "FLOAT": lambda v: isinstance(v, float),
    "STRING": lambda v: isinstance(v, str),
    "BOOLEAN": lambda v: isinstance(v, bool),
    "MODEL": lambda v: isinstance(v, SimModel),
    "CLIP": lambda v: isinstance(v, SimClip),
    "VAE": lambda v: isinstance(v, SimVae),
    "CLIP_VISION": lambda v: isinstance(v, SimClipVision),
    "CONDITIONING": lambda v: isinstance(v, SimConditioning),
    "CONTROL_NET": lambda v: isinstance(v, SimControlNet),
    "UPSCALE_MODEL": lambda v: isinstance(v, SimUpscaleModel),
    "SAMPLER": lambda v: isinstance(v, SimSampler),
    "NOISE": lambda v: isinstance(v, SimNoise),
    "GUIDER": lambda v: isinstance(v, SimGuider),
    "VIDEO": lambda v: isinstance(v, SimVideo),
    "CLIP_VISION_OUTPUT": lambda v: isinstance(v, SimClipVisionOutput),
    "STYLE_MODEL": lambda v: isinstance(v, SimStyleModel),
    "AUDIO": lambda v: v is None,
}


def sample_value(spec: list[Any]) -> Any:
    kind = spec[0]
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if options.get("image_upload"):
        return "example.png"
    if isinstance(kind, list):
        return kind[0]
    if kind == "COMBO":
        return options.get("default", options["options"][0])
    if kind in ("INT", "FLOAT", "BOOLEAN") or (kind == "STRING" and "default" in options):
        default = options.get("default", options.get("min", 0))
        return {"INT": int, "FLOAT": float, "BOOLEAN": bool}.get(kind, str)(default)
    if kind not in SAMPLES:
        raise LookupError(kind)
    return SAMPLES[kind]


def same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and bool(np.array_equal(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def default_inputs(class_type: str) -> dict[str, Any]:
    inputs = OBJECT_INFO[class_type]["input"]
    return {name: sample_value(spec) for name, spec in inputs.get("required", {}).items()}


@pytest.mark.parametrize("class_type", sorted(_EXECUTORS))
async def test_each_executor_runs_on_recorded_defaults_and_returns_its_declared_outputs(
    class_type: str, tmp_path: Path
) -> None:
    assert class_type in OBJECT_INFO, f"{class_type} needs an object_info entry"
    dirs = make_dirs(tmp_path)
    Image.new("RGBA", (64, 64), (10, 20, 30, 128)).save(dirs.input / "example.png")
    inputs = default_inputs(class_type)
    executor = get_executor(class_type)
    assert executor is not None
    before = copy.deepcopy(inputs)
    result = await call(class_type, inputs, make_context(dirs, class_type=class_type))
    assert same(inputs, before), f"{class_type} modified its inputs"
    declared = OBJECT_INFO[class_type]["output"]
    assert len(result.outputs) == len(declared)
    for kind, value in zip(declared, result.outputs, strict=True):
        assert CHECKS[kind](value), f"{class_type} output {kind} is {type(value).__name__}"
    if OBJECT_INFO[class_type].get("output_node") and class_type != "SaveImageWebsocket":
        assert result.ui is not None
