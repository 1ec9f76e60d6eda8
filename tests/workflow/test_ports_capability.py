"""Artifact ports and capability checks against one or several servers."""

from __future__ import annotations

import json

from orch_common.workflow import (
    ArtifactKind,
    ObjectInfoIndex,
    check_capability,
    check_servers,
    convert_ui_to_api,
    find_ports,
    required_node_classes,
)
from tests.helpers import FIXTURES
from tests.workflow.conftest import OBJECT_INFO_BYTES


def api(name: str) -> dict:
    return json.loads((FIXTURES / "workflows" / name).read_text())


def test_a_load_image_is_an_image_input_patched_through_its_image_widget(index):
    ports = find_ports(api("api_loadimage_scale.json"), index)
    (port,) = ports.inputs
    assert (port.id, port.kind, str(port.address)) == ("10.image", ArtifactKind.IMAGE, "10.image")
    assert ArtifactKind.MASK in port.provides
    assert [(p.id, p.kind) for p in ports.outputs] == [("12.images", ArtifactKind.IMAGE)]


def test_a_mask_saved_as_an_image_is_a_mask_output(index):
    outputs = {p.id: p.kind for p in find_ports(api("api_mask.json"), index).outputs}
    assert ArtifactKind.MASK in outputs.values()
    assert ArtifactKind.IMAGE in outputs.values()


def test_string_sources_and_text_previews_are_string_ports(index):
    ports = find_ports(api("api_text_preview_any.json"), index)
    assert [p.kind for p in ports.inputs] == [ArtifactKind.STRING]
    assert [p.kind for p in ports.outputs] == [ArtifactKind.STRING]


def test_websocket_and_video_outputs_are_typed(index):
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImageWebsocket", "inputs": {"images": ["1", 0]}},
        "3": {
            "class_type": "SaveWEBM",
            "inputs": {"images": ["1", 0], "filename_prefix": "v", "codec": "vp9", "fps": 24.0, "crf": 32.0},
        },
        "4": {"class_type": "SaveLatent", "inputs": {"samples": ["5", 0], "filename_prefix": "l"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "6": {"class_type": "LoadVideo", "inputs": {"file": "clip.mp4"}},
    }
    ports = find_ports(prompt, index)
    assert {p.id: p.kind for p in ports.outputs} == {
        "2.images": ArtifactKind.IMAGE,
        "3.images": ArtifactKind.VIDEO,
        "4.samples": ArtifactKind.LATENT,
    }
    assert [(p.id, p.kind) for p in ports.inputs] == [("6.file", ArtifactKind.VIDEO)]


def test_the_recorded_server_can_run_what_it_ran(index):
    for name in ("api_basic.json", "api_mask.json", "api_loadimage_scale.json"):
        capability = check_capability(api(name), index)
        assert capability.ok, capability


def test_missing_classes_and_model_files_are_reported(index):
    ui = json.loads((FIXTURES / "workflows" / "ui_default.json").read_text())
    prompt = convert_ui_to_api(ui, index)
    prompt["99"] = {"class_type": "SomePackNode", "inputs": {}}
    capability = check_capability(prompt, index)
    assert not capability.ok
    assert capability.missing_classes == ("SomePackNode",)
    assert [(v.input, v.value) for v in capability.missing_values] == [
        ("ckpt_name", "v1-5-pruned-emaonly-fp16.safetensors")
    ]
    assert [m.name for m in capability.required_models] == ["v1-5-pruned-emaonly-fp16.safetensors"]
    assert "SomePackNode" in required_node_classes(prompt)


def test_several_servers_are_compared(index):
    data = json.loads(OBJECT_INFO_BYTES)
    data["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] = ["v1-5-pruned-emaonly-fp16.safetensors"]
    with_model = ObjectInfoIndex.from_dict(data)
    without_blur = ObjectInfoIndex.from_dict(
        {k: v for k, v in json.loads(OBJECT_INFO_BYTES).items() if k != "ImageBlur"}
    )
    ui = json.loads((FIXTURES / "workflows" / "ui_default.json").read_text())
    prompt = convert_ui_to_api(ui, index)
    result = check_servers(prompt, {"a": index, "b": with_model, "c": without_blur})
    assert [name for name, c in result.items() if c.ok] == ["b"]
    assert result["c"].missing_classes == ()
    assert check_servers(api("api_basic.json"), {"c": without_blur})["c"].missing_classes == ("ImageBlur",)
