"""Capabilities from /object_info and /system_stats, output kinds and keys, and the agent's settings."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from orch_agent.capabilities import build_capabilities, combo_options, device_display_name, model_lists, stats_gpus
from orch_agent.outputs import artifact_key, classify, content_type_for, node_outputs
from orch_agent.settings import AgentSettings
from orch_common.comfy.wire import SystemStats
from orch_common.contracts.events import ArtifactKind
from tests.helpers import FIXTURES


def recorded_object_info() -> dict:
    return json.loads((FIXTURES / "object_info.json").read_text())


def test_model_lists_come_from_the_combo_inputs_of_loader_nodes() -> None:
    info = recorded_object_info()
    info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] = ["b.safetensors", "a.safetensors"]
    info["UpscaleModelLoader"]["input"]["required"]["model_name"] = ["COMBO", {"options": ["x4.pth"]}]
    info["LoraLoader"]["input"]["required"]["lora_name"][0] = ["style.safetensors"]
    models = model_lists(info)
    assert models["checkpoints"] == ["a.safetensors", "b.safetensors"]
    assert models["upscale_models"] == ["x4.pth"]
    assert models["loras"] == ["style.safetensors"]
    assert "pixel_space" in models["vae"]


def test_combo_options_reads_both_spellings_and_nothing_else() -> None:
    assert combo_options([["a", "b"], {}]) == ["a", "b"]
    assert combo_options(["COMBO", {"options": ["c"]}]) == ["c"]
    assert combo_options(["INT", {"default": 1}]) is None
    assert combo_options("IMAGE") is None


def test_capabilities_of_the_recorded_cpu_server() -> None:
    stats = SystemStats.model_validate(json.loads((FIXTURES / "system_stats.json").read_text()))
    caps = build_capabilities(recorded_object_info(), "f" * 64, stats)
    assert len(caps.node_classes) == 478 and "KSampler" in caps.node_classes
    assert caps.comfyui_version == "0.3.64" and caps.ram_total and caps.device_type == "cpu"
    assert caps.gpu_name is None and stats_gpus(stats) == []


def test_a_cuda_device_name_is_shown_without_its_index_and_allocator() -> None:
    assert device_display_name("cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync") == "NVIDIA GeForce RTX 4090"
    assert device_display_name("cpu") == "cpu"


@pytest.mark.parametrize(
    ("port", "filename", "kind"),
    [
        ("images", "a.png", ArtifactKind.IMAGE),
        ("gifs", "a.mp4", ArtifactKind.VIDEO),
        ("audio", "a.flac", ArtifactKind.AUDIO),
        ("latents", "a.latent", ArtifactKind.LATENT),
        ("meshes", "a.glb", ArtifactKind.FILE),
        ("custom", "a.webm", ArtifactKind.VIDEO),
    ],
)
def test_an_outputs_kind_follows_its_port_then_its_file_type(port: str, filename: str, kind: ArtifactKind) -> None:
    [(index, item)] = node_outputs("7", {port: [{"filename": filename, "subfolder": "", "type": "output"}]})
    assert index == 0 and classify(item) is kind


def test_indexes_count_every_item_of_a_node_so_keys_never_collide() -> None:
    items = node_outputs("9", {"images": [{"filename": "a.png"}, {"filename": "b.png"}], "text": ["hello"]})
    assert [index for index, _ in items] == [0, 1, 2]
    assert artifact_key("j", 2, "9", 1, "sub/b.png") == "j/2/9/1-sub_b.png"


def test_content_types_prefer_the_servers_answer_unless_it_is_generic() -> None:
    assert content_type_for("a.png", "image/png") == "image/png"
    assert content_type_for("a.webp", "application/octet-stream") == "image/webp"
    assert content_type_for("a.bin", None) == "application/octet-stream"


@pytest.mark.parametrize("bad", ["has space", "a.b", "a:b", ""])
def test_a_backend_id_must_be_a_subject_token_and_a_kv_key(bad: str) -> None:
    with pytest.raises(ValidationError, match="backend"):
        AgentSettings(backend_id=bad)


def test_settings_come_from_orch_agent_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_AGENT_BACKEND_ID", "gpu-7")
    monkeypatch.setenv("ORCH_AGENT_COMFY_URL", "http://10.0.0.7:8188/")
    monkeypatch.setenv("ORCH_AGENT_DRAIN_GRACE_S", "5")
    settings = AgentSettings()
    assert (settings.backend_id, settings.comfy_url, settings.drain_grace_s) == ("gpu-7", "http://10.0.0.7:8188", 5.0)
