"""Masks, loaders and their guards, websocket images, PreviewAny, the recorded runtime error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from orch_sim.nodes import SimDirs, is_changed_hook, validate_inputs_hook, validated_inputs

from .fakes import FIXTURES, Recorder, call, fixture_json, make_context, make_dirs, run_prompt


@pytest.fixture
def dirs(tmp_path: Path) -> SimDirs:
    return make_dirs(tmp_path)


async def test_imagetomask_alpha_on_rgb_raises_comfyuis_indexerror(dirs: SimDirs) -> None:
    (entry,) = fixture_json("history_runtime_error.json").values()
    recorded = dict(entry["status"]["messages"])["execution_error"]
    with pytest.raises(IndexError) as raised:
        await run_prompt(fixture_json("workflows/api_runtime_error.json"), dirs)
    assert type(raised.value).__name__ == recorded["exception_type"]
    assert f"{raised.value}\n" == recorded["exception_message"]
    assert not any(dirs.output.iterdir())


async def test_loadimage_gives_rgb_and_the_inverted_alpha_as_mask(dirs: SimDirs) -> None:
    shutil.copy(FIXTURES / "upload_source.png", dirs.input / "fx_upload.png")
    image, mask = (await call("LoadImage", {"image": "fx_upload.png"}, make_context(dirs))).outputs
    source = np.asarray(Image.open(FIXTURES / "upload_source.png")).astype(np.float32) / 255
    assert image.shape == (1, 48, 64, 3) and mask.shape == (1, 48, 64)
    assert np.allclose(image[0], source[..., :3]) and np.allclose(mask[0], 1 - source[..., 3])


async def test_loadimage_without_alpha_gives_a_64px_empty_mask(dirs: SimDirs) -> None:
    Image.new("RGB", (10, 6), (255, 0, 0)).save(dirs.input / "red.png")
    image, mask = (await call("LoadImage", {"image": "red.png"}, make_context(dirs))).outputs
    assert image.shape == (1, 6, 10, 3) and np.allclose(image[..., 0], 1.0)
    assert mask.shape == (1, 64, 64) and not mask.any()


async def test_loadimage_reads_subfolders_and_annotated_roots(dirs: SimDirs) -> None:
    (dirs.input / "sub").mkdir()
    Image.new("RGB", (4, 4), (0, 255, 0)).save(dirs.input / "sub" / "g.png")
    Image.new("RGB", (5, 5), (0, 0, 255)).save(dirs.output / "b.png")
    green, _ = (await call("LoadImage", {"image": "sub/g.png"}, make_context(dirs))).outputs
    blue, _ = (await call("LoadImage", {"image": "b.png [output]"}, make_context(dirs))).outputs
    assert green.shape == (1, 4, 4, 3) and np.allclose(green[..., 1], 1.0)
    assert blue.shape == (1, 5, 5, 3) and np.allclose(blue[..., 2], 1.0)
    assert validate_inputs_hook("LoadImage", {"image": "b.png [output]"}, dirs) is None
    assert validate_inputs_hook("LoadImage", {"image": "sub/g.png"}, dirs) is None


async def test_loadimagemask_alpha_is_inverted_and_colour_channels_are_not(dirs: SimDirs) -> None:
    shutil.copy(FIXTURES / "upload_source.png", dirs.input / "fx_upload.png")
    source = np.asarray(Image.open(FIXTURES / "upload_source.png")).astype(np.float32) / 255
    (alpha,) = (await call("LoadImageMask", {"image": "fx_upload.png", "channel": "alpha"}, make_context(dirs))).outputs
    (red,) = (await call("LoadImageMask", {"image": "fx_upload.png", "channel": "red"}, make_context(dirs))).outputs
    assert alpha.shape == red.shape == (1, 48, 64)
    assert np.allclose(alpha[0], 1 - source[..., 3]) and np.allclose(red[0], source[..., 0])


def test_a_missing_image_fails_validation_with_comfyuis_message(dirs: SimDirs) -> None:
    recorded = fixture_json("prompt_error_loadimage_missing_file.json")["response"]["node_errors"]["1"]["errors"][0]
    message = validate_inputs_hook("LoadImage", {"image": "does_not_exist.png"}, dirs)
    assert message == "Invalid image file: does_not_exist.png"
    (name,) = validated_inputs("LoadImage")
    assert f"{name} - {message}" == recorded["details"] and recorded["extra_info"]["input_name"] == name
    assert validate_inputs_hook("LoadImageMask", {"image": "nope.png", "channel": "red"}, dirs) is not None
    assert validate_inputs_hook("ImageInvert", {}, dirs) is None


@pytest.mark.parametrize("name", ["../secret.png", "/etc/passwd", "sub/../../secret.png", "x.png [temp]"])
def test_loader_names_cannot_escape_or_reach_missing_files(dirs: SimDirs, name: str) -> None:
    (dirs.input.parent / "secret.png").write_bytes((FIXTURES / "upload_source.png").read_bytes())
    assert validate_inputs_hook("LoadImage", {"image": name}, dirs) == f"Invalid image file: {name}"


async def test_loading_an_escaping_name_raises_instead_of_reading(dirs: SimDirs) -> None:
    with pytest.raises(ValueError, match="leaves the input directory"):
        await call("LoadImage", {"image": "../../etc/passwd"}, make_context(dirs))


async def test_savewebsocket_reports_progress_then_sends_a_full_size_frame_per_image(dirs: SimDirs) -> None:
    recorder = Recorder()
    results = await run_prompt(fixture_json("workflows/api_progress_ws_images.json"), dirs, recorder=recorder)
    assert results["3"].ui is None and results["3"].outputs == ()
    kinds = [kind for kind, _ in recorder.events]
    assert kinds == ["progress", "frame"] * 4
    assert recorder.progress() == [(0, 4), (1, 4), (2, 4), (3, 4)]
    for frame in recorder.frames():
        assert frame.size == (64, 64) and frame.mode == "RGB" and frame.getpixel((0, 0)) == (255, 0, 255)


async def test_preview_any_shows_text_like_the_recording(dirs: SimDirs) -> None:
    results = await run_prompt(fixture_json("workflows/api_text_preview_any.json"), dirs)
    (entry,) = fixture_json("history_text_preview_any.json").values()
    assert results["3"].ui == entry["outputs"]["3"]
    for value, text in [(5, "5"), (1.5, "1.5"), (True, "True"), ({"a": [1]}, '{"a": [1]}'), (None, "None")]:
        assert (await call("PreviewAny", {"source": value}, make_context(dirs))).ui == {"text": [text]}


async def test_grow_mask_with_tapered_corners_cuts_the_corners(dirs: SimDirs) -> None:
    mask = np.zeros((1, 20, 20), np.float32)
    mask[:, 8:12, 8:12] = 1
    (grown,) = (
        await call("GrowMask", {"mask": mask, "expand": 2, "tapered_corners": True}, make_context(dirs))
    ).outputs
    (square,) = (
        await call("GrowMask", {"mask": mask, "expand": 2, "tapered_corners": False}, make_context(dirs))
    ).outputs
    (shrunk,) = (
        await call("GrowMask", {"mask": mask, "expand": -1, "tapered_corners": False}, make_context(dirs))
    ).outputs
    assert square.sum() == 64 and grown.sum() == 64 - 4 * 3 and shrunk.sum() == 4


@pytest.mark.parametrize(
    ("operation", "expected"),
    [("multiply", 0.375), ("add", 1.0), ("subtract", 0.25), ("and", 0.0), ("or", 1.0), ("xor", 1.0)],
)
async def test_mask_composite_operations(dirs: SimDirs, operation: str, expected: float) -> None:
    # logical operations round first, half to even: 0.75 is on, 0.5 is off
    destination, source = np.full((1, 8, 8), 0.75, np.float32), np.full((1, 4, 4), 0.5, np.float32)
    (out,) = (
        await call(
            "MaskComposite",
            {"destination": destination, "source": source, "x": 6, "y": 6, "operation": operation},
            make_context(dirs),
        )
    ).outputs
    assert out.shape == (1, 8, 8) and np.allclose(out[0, 6:, 6:], expected) and np.allclose(out[0, :6], 0.75)


async def test_mask_round_trips_through_image(dirs: SimDirs) -> None:
    mask = np.random.default_rng(3).random((2, 5, 7), dtype=np.float32)
    (image,) = (await call("MaskToImage", {"mask": mask}, make_context(dirs))).outputs
    (back,) = (await call("ImageToMask", {"image": image, "channel": "green"}, make_context(dirs))).outputs
    (inverted,) = (await call("InvertMask", {"mask": back}, make_context(dirs))).outputs
    assert image.shape == (2, 5, 7, 3) and np.array_equal(back, mask) and np.allclose(inverted, 1 - mask)


async def test_animated_webp_saves_one_file_with_every_frame(dirs: SimDirs) -> None:
    frames = np.stack([np.full((16, 16, 3), i / 4, np.float32) for i in range(4)])
    result = await call(
        "SaveAnimatedWEBP",
        {"images": frames, "filename_prefix": "anim", "fps": 6.0, "lossless": True, "quality": 80, "method": "default"},
        make_context(dirs),
    )
    assert result.ui == {
        "images": [{"filename": "anim_00001_.webp", "subfolder": "", "type": "output"}],
        "animated": [True],
    }
    with Image.open(dirs.output / "anim_00001_.webp") as saved:
        assert saved.n_frames == 4 and saved.size == (16, 16)


def test_loadimage_is_changed_is_the_file_hash_recorded_in_comfyuis_png(dirs: SimDirs) -> None:
    shutil.copy(FIXTURES / "upload_source.png", dirs.input / "fx_upload.png")
    recorded = json.loads(Image.open(FIXTURES / "view_loadimage_scale.png").text["prompt"])["10"]["is_changed"]
    assert [is_changed_hook("LoadImage", {"image": "fx_upload.png"}, dirs)] == recorded
    assert is_changed_hook("LoadImage", {"image": "missing.png"}, dirs) is None
    assert is_changed_hook("ImageInvert", {"image": "fx_upload.png"}, dirs) is None


def read_safetensors(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    body = data[8 + size :]
    tensors = {
        name: np.frombuffer(body[spec["data_offsets"][0] : spec["data_offsets"][1]], "<f4").reshape(spec["shape"])
        for name, spec in header.items()
        if name != "__metadata__"
    }
    return header["__metadata__"], tensors


async def test_save_latent_writes_a_safetensors_file_listed_under_latents(dirs: SimDirs) -> None:
    samples = np.random.default_rng(4).standard_normal((1, 4, 3, 5)).astype(np.float32)
    prompt = {"1": {"class_type": "EmptyLatentImage", "inputs": {}}}
    ctx = make_context(dirs, prompt=prompt, extra_pnginfo={"workflow": {"id": "w"}})
    result = await call("SaveLatent", {"samples": {"samples": samples}, "filename_prefix": "latents/run"}, ctx)
    assert result.ui == {"latents": [{"filename": "run_00001_.latent", "subfolder": "latents", "type": "output"}]}
    metadata, tensors = read_safetensors((dirs.output / "latents" / "run_00001_.latent").read_bytes())
    assert metadata == {"prompt": json.dumps(prompt), "workflow": '{"id": "w"}'}
    assert np.array_equal(tensors["latent_tensor"], samples) and tensors["latent_format_version_0"].shape == (0,)


async def test_create_and_save_video_writes_an_animated_webp_in_the_video_folder(dirs: SimDirs) -> None:
    frames = np.stack([np.full((12, 20, 3), i / 5, np.float32) for i in range(5)])
    ctx = make_context(dirs)
    (video,) = (await call("CreateVideo", {"images": frames, "fps": 10.0}, ctx)).outputs
    result = await call(
        "SaveVideo", {"video": video, "filename_prefix": "video/ComfyUI", "format": "auto", "codec": "auto"}, ctx
    )
    assert result.ui == {
        "images": [{"filename": "ComfyUI_00001_.webp", "subfolder": "video", "type": "output"}],
        "animated": [True],
    }
    with Image.open(dirs.output / "video" / "ComfyUI_00001_.webp") as saved:
        assert saved.n_frames == 5 and saved.size == (20, 12)
    back, audio, fps = (await call("GetVideoComponents", {"video": video}, ctx)).outputs
    assert np.array_equal(back, frames) and audio is None and fps == 10.0
