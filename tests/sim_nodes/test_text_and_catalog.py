"""String and primitive nodes; the catalogue: registry, object_info augmentation, default models."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from orch_sim.nodes import augment_object_info, default_models, get_executor, model_free_classes

from .fakes import call, fixture_json, make_context, make_dirs


@pytest.fixture(scope="module")
def object_info() -> dict[str, Any]:
    return fixture_json("object_info.json")


async def run(class_type: str, inputs: dict[str, Any], tmp_path: Path) -> tuple[Any, ...]:
    return (await call(class_type, inputs, make_context(make_dirs(tmp_path)))).outputs


REGEX = {"case_insensitive": True, "multiline": False, "dotall": False}


@pytest.mark.parametrize(
    ("mode", "group", "expected"),
    [
        ("First Match", 0, "a1"),
        ("All Matches", 0, "a1\nB22"),
        ("First Group", 1, "1"),
        ("All Groups", 1, "1\n22"),
        ("First Group", 3, ""),
    ],
)
async def test_regex_extract_modes(tmp_path: Path, mode: str, group: int, expected: str) -> None:
    inputs = {"string": "x a1 B22", "regex_pattern": "[ab]([0-9]+)", "mode": mode, "group_index": group, **REGEX}
    assert await run("RegexExtract", inputs, tmp_path) == (expected,)


@pytest.mark.parametrize(
    ("class_type", "inputs", "expected"),
    [
        ("PrimitiveString", {"value": "hi"}, "hi"),
        ("PrimitiveStringMultiline", {"value": "a\nb"}, "a\nb"),
        ("PrimitiveInt", {"value": 7}, 7),
        ("PrimitiveFloat", {"value": 0.5}, 0.5),
        ("PrimitiveBoolean", {"value": False}, False),
        ("StringConcatenate", {"string_a": "a", "string_b": "b", "delimiter": ", "}, "a, b"),
        ("StringSubstring", {"string": "hello", "start": 1, "end": 3}, "el"),
        ("StringLength", {"string": "hello"}, 5),
        ("CaseConverter", {"string": "hello world", "mode": "Title Case"}, "Hello World"),
        ("StringTrim", {"string": "  x  ", "mode": "Left"}, "x  "),
        ("StringReplace", {"string": "a-b-c", "find": "-", "replace": "+"}, "a+b+c"),
        ("StringContains", {"string": "Hello", "substring": "hell", "case_sensitive": False}, True),
        ("StringCompare", {"string_a": "Hello", "string_b": "He", "mode": "Starts With", "case_sensitive": True}, True),
        ("RegexMatch", {"string": "abc", "regex_pattern": "B", **REGEX}, True),
        ("RegexReplace", {"string": "a1b2", "regex_pattern": "[0-9]", "replace": "#", "count": 1}, "a#b2"),
    ],
)
async def test_string_and_primitive_nodes(
    tmp_path: Path, class_type: str, inputs: dict[str, Any], expected: Any
) -> None:
    assert await run(class_type, inputs, tmp_path) == (expected,)


def test_every_runnable_class_is_in_the_recorded_object_info_with_matching_outputs(object_info: dict[str, Any]) -> None:
    augmented = augment_object_info(object_info, {})
    verified = set(fixture_json("nodes_model_free.json")["verified_ran_ok"])
    assert verified <= model_free_classes()
    for class_type in ("KSampler", "CheckpointLoaderSimple", "VAEDecode", "CLIPTextEncode"):
        assert get_executor(class_type) is not None and class_type not in model_free_classes()
    assert get_executor("NoSuchNodeXYZ") is None
    for class_type in verified | {"KSampler", "VAEDecode", "SaveAnimatedWEBP", "SamplerCustomAdvanced"}:
        assert class_type in augmented


def test_model_combos_are_filled_in_both_combo_styles_without_touching_the_input(object_info: dict[str, Any]) -> None:
    before = copy.deepcopy(object_info)
    models = default_models()
    augmented = augment_object_info(object_info, models)
    assert object_info == before
    required = lambda name: augmented[name]["input"]["required"]  # noqa: E731
    assert required("CheckpointLoaderSimple")["ckpt_name"][0] == sorted(models["checkpoints"])
    assert (
        required("CheckpointLoaderSimple")["ckpt_name"][1]
        == before["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][1]
    )
    assert required("VAELoader")["vae_name"][0] == [*sorted(models["vae"]), "pixel_space"]
    assert required("UpscaleModelLoader")["model_name"][1]["options"] == sorted(models["upscale_models"])
    assert required("CLIPVisionLoader")["clip_name"][0] == sorted(models["clip_vision"])
    assert required("CLIPLoader")["clip_name"][0] == sorted(models["text_encoders"])
    assert required("TripleCLIPLoader")["clip_name3"][1]["options"] == sorted(models["text_encoders"])
    assert required("LoraLoader")["lora_name"][0] == sorted(models["loras"])
    assert (
        required("KlingSingleImageVideoEffectNode")["model_name"]
        == before["KlingSingleImageVideoEffectNode"]["input"]["required"]["model_name"]
    )
    assert json.dumps(required("LoadImage")) == json.dumps(before["LoadImage"]["input"]["required"])


def test_default_models_cover_the_checkpoints_of_the_recorded_templates() -> None:
    checkpoints = set(default_models()["checkpoints"])
    for template in (
        "ui_default.json",
        "ui_image2image.json",
        "ui_hiresfix_groups_preview.json",
        "ui_sdxl_refiner_primitive_nodes.json",
    ):
        workflow = fixture_json(f"workflows/{template}")
        names = {n["widgets_values"][0] for n in workflow["nodes"] if n["type"] == "CheckpointLoaderSimple"}
        assert names <= checkpoints, template
