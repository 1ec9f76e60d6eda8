"""Every template of comfyui-workflow-templates 0.1.95 and every recorded UI fixture converts."""

from __future__ import annotations

import json

import pytest

from orch_common.workflow.api import parse_api
from orch_common.workflow.convert import convert_ui_to_api
from orch_common.workflow.errors import MissingNodeClassError
from tests.helpers import FIXTURES
from tests.workflow.conftest import template_files

# Templates the recorded object_info (ComfyUI 0.3.64 without its audio nodes and without custom packs)
# cannot express: the first active node whose class the server lacks.
INEXPRESSIBLE = {
    "api_stability_ai_audio_inpaint.json": "LoadAudio",
    "api_stability_ai_audio_to_audio.json": "RecordAudio",
    "api_stability_ai_text_to_audio.json": "SaveAudioMP3",
    "api_wan_image_to_video.json": "LoadAudio",
    "api_wan_text_to_video.json": "LoadAudio",
    "audio_ace_step_1_m2m_editing.json": "LoadAudio",
    "audio_ace_step_1_t2a_instrumentals.json": "VAEDecodeAudio",
    "audio_ace_step_1_t2a_song.json": "VAEDecodeAudio",
    "audio_stable_audio_example.json": "EmptyLatentAudio",
    "video_humo.json": "AudioEncoderLoader",
    "video_wan2_2_14B_animate.json": "DownloadAndLoadSAM2Model",
    "video_wan2_2_14B_s2v.json": "AudioEncoderLoader",
}
TEMPLATES = template_files()


def test_the_template_package_is_the_expected_one():
    assert len(TEMPLATES) == 172


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_every_template_converts_or_names_its_missing_class(path, index):
    data = json.loads(path.read_text())
    if path.name in INEXPRESSIBLE:
        with pytest.raises(MissingNodeClassError) as info:
            convert_ui_to_api(data, index)
        assert info.value.class_type == INEXPRESSIBLE[path.name]
        return
    prompt = convert_ui_to_api(data, index)
    assert prompt, "no executable node"
    parse_api(prompt)
    for node in prompt.values():
        assert node["class_type"] in index
        for value in node["inputs"].values():
            if isinstance(value, list):
                assert value[0] in prompt, "a link to a node that is not in the prompt"


@pytest.mark.parametrize("path", sorted((FIXTURES / "workflows").glob("ui_*.json")), ids=lambda p: p.name)
def test_every_recorded_ui_fixture_converts(path, index):
    prompt = convert_ui_to_api(json.loads(path.read_text()), index)
    assert prompt


def test_the_subgraph_fixture_flattens_with_the_promoted_widget_values(index):
    data = json.loads((FIXTURES / "workflows" / "ui_qwen_controlnet_subgraph.json").read_text())
    prompt = convert_ui_to_api(data, index)
    assert prompt["106:89"]["inputs"]["vae_name"] == "vae-ft-mse-840000-ema-pruned.safetensors"
    assert prompt["106:101"]["inputs"]["sigma"] == 10000
    assert prompt["106:97"]["inputs"]["pixels"] == ["75", 0]
    assert prompt["73"]["inputs"]["images"] == ["106:99", 0]
    # Canny (72) and the LoRA loader (80) are bypassed: ModelSamplingAuraFlow takes the UNET directly.
    assert "72" not in prompt and "80" not in prompt
    assert prompt["66"]["inputs"]["model"] == ["37", 0]
    assert "68" not in prompt  # a Note
    assert prompt["3"]["inputs"]["seed"] == 452179129219851


def test_the_default_workflow_matches_what_the_frontend_queues(index):
    data = json.loads((FIXTURES / "workflows" / "ui_default.json").read_text())
    prompt = convert_ui_to_api(data, index)
    sampler = next(n for n in prompt.values() if n["class_type"] == "KSampler")
    assert set(sampler["inputs"]) == {
        "seed",
        "steps",
        "cfg",
        "sampler_name",
        "scheduler",
        "denoise",
        "model",
        "positive",
        "negative",
        "latent_image",
    }
