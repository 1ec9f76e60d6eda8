"""Image and mask nodes against the outputs recorded from a real ComfyUI 0.3.64."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from orch_sim.nodes import SimDirs
from orch_sim.nodes.resample import _weights, resize

from .fakes import FIXTURES, call, fixture_json, make_context, make_dirs, run_prompt


@pytest.fixture
def dirs(tmp_path: Path) -> SimDirs:
    return make_dirs(tmp_path)


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(np.int16)


async def test_the_basic_run_saves_the_same_png_bytes_as_comfyui(dirs: SimDirs) -> None:
    prompt = fixture_json("workflows/api_basic.json")
    results = await run_prompt(prompt, dirs)
    recorded = fixture_json("history_basic.json")
    (entry,) = recorded.values()
    assert results["4"].ui == entry["outputs"]["4"]
    assert (dirs.output / "fx_basic_00001_.png").read_bytes() == (FIXTURES / "view_basic.png").read_bytes()


async def test_the_mask_run_reproduces_all_three_recorded_images(dirs: SimDirs) -> None:
    results = await run_prompt(fixture_json("workflows/api_mask.json"), dirs)
    assert results["20"].ui == {
        "images": [{"filename": "fx_mask_composite_00001_.png", "subfolder": "", "type": "output"}]
    }
    assert results["21"].ui == {
        "images": [{"filename": "fx_mask_as_image_00001_.png", "subfolder": "", "type": "output"}]
    }
    (preview,) = results["22"].ui["images"]
    assert preview["type"] == "temp" and preview["subfolder"] == ""
    assert preview["filename"].startswith("ComfyUI_temp_") and preview["filename"].endswith("_00001_.png")
    assert len(preview["filename"]) == len("ComfyUI_temp_qypbi_00001_.png")
    pairs = [
        (dirs.output / "fx_mask_composite_00001_.png", "view_mask_1.png"),
        (dirs.output / "fx_mask_as_image_00001_.png", "view_mask_2.png"),
        (dirs.temp / preview["filename"], "view_mask.png"),
    ]
    for ours, recorded in pairs:
        assert np.array_equal(pixels(ours), pixels(FIXTURES / recorded)), recorded


async def test_loadimage_then_scale_matches_the_recording_in_a_subfolder(dirs: SimDirs) -> None:
    shutil.copy(FIXTURES / "upload_source.png", dirs.input / "fx_upload.png")
    results = await run_prompt(fixture_json("workflows/api_loadimage_scale.json"), dirs)
    assert results["12"].ui == {"images": [{"filename": "scaled_00001_.png", "subfolder": "fx_load", "type": "output"}]}
    ours = Image.open(dirs.output / "fx_load" / "scaled_00001_.png")
    recorded = Image.open(FIXTURES / "view_loadimage_scale.png")
    assert (ours.size, ours.mode) == (recorded.size, recorded.mode) == ((128, 96), "RGB")
    # torch and numpy round a few bilinear samples differently; no pixel is off by more than one level
    assert (
        np.abs(
            pixels(dirs.output / "fx_load" / "scaled_00001_.png") - pixels(FIXTURES / "view_loadimage_scale.png")
        ).max()
        <= 1
    )


async def test_saved_images_count_up_per_prefix_and_carry_prompt_and_workflow_chunks(dirs: SimDirs) -> None:
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 2, "color": 0}}}
    image = np.zeros((2, 8, 8, 3), np.float32)
    workflow = {"workflow": {"nodes": [], "id": "w-1"}}
    ctx = make_context(dirs, prompt=prompt, extra_pnginfo=workflow)
    first = await call("SaveImage", {"images": image, "filename_prefix": "run/shot"}, ctx)
    second = await call("SaveImage", {"images": image[:1], "filename_prefix": "run/shot"}, ctx)
    other = await call("SaveImage", {"images": image[:1], "filename_prefix": "run/other"}, ctx)
    names = [entry["filename"] for result in (first, second, other) for entry in result.ui["images"]]
    assert names == ["shot_00001_.png", "shot_00002_.png", "shot_00003_.png", "other_00001_.png"]
    assert {entry["subfolder"] for entry in first.ui["images"]} == {"run"}
    saved = Image.open(dirs.output / "run" / "shot_00003_.png")
    assert saved.text == {
        "prompt": '{"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, '
        '"batch_size": 2, "color": 0}}}',
        "workflow": '{"nodes": [], "id": "w-1"}',
    }


async def test_saving_outside_the_output_folder_is_refused(dirs: SimDirs) -> None:
    ctx = make_context(dirs)
    with pytest.raises(Exception, match="Saving image outside the output folder is not allowed"):
        await call("SaveImage", {"images": np.zeros((1, 4, 4, 3), np.float32), "filename_prefix": "../escape"}, ctx)


@pytest.mark.parametrize("method", ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"])
@pytest.mark.parametrize("crop", ["disabled", "center"])
async def test_imagescale_gives_the_asked_size_with_every_method(dirs: SimDirs, method: str, crop: str) -> None:
    image = np.random.default_rng(1).random((2, 30, 40, 3), dtype=np.float32)
    result = await call(
        "ImageScale",
        {"image": image, "upscale_method": method, "width": 17, "height": 23, "crop": crop},
        make_context(dirs),
    )
    (scaled,) = result.outputs
    assert scaled.shape == (2, 23, 17, 3) and scaled.dtype == np.float32
    assert abs(float(scaled.mean()) - float(image.mean())) < 0.08


async def test_a_uniform_image_keeps_its_colour_under_every_scale_method(dirs: SimDirs) -> None:
    image = np.full((1, 20, 20, 3), 0.25, np.float32)
    for method in ("nearest-exact", "bilinear", "area", "bicubic"):
        (out,) = (
            await call("ImageScaleBy", {"image": image, "upscale_method": method, "scale_by": 1.7}, make_context(dirs))
        ).outputs
        assert out.shape == (1, 34, 34, 3)
        assert np.allclose(out, 0.25, atol=1e-5), method


async def test_imagescale_with_one_zero_side_keeps_the_aspect_ratio(dirs: SimDirs) -> None:
    image = np.zeros((1, 48, 64, 3), np.float32)
    (out,) = (
        await call(
            "ImageScale",
            {"image": image, "upscale_method": "area", "width": 32, "height": 0, "crop": "disabled"},
            make_context(dirs),
        )
    ).outputs
    assert out.shape == (1, 24, 32, 3)


async def test_image_batch_resizes_the_second_image_to_the_first(dirs: SimDirs) -> None:
    first, second = np.zeros((1, 16, 16, 3), np.float32), np.ones((2, 8, 12, 3), np.float32)
    (out,) = (await call("ImageBatch", {"image1": first, "image2": second}, make_context(dirs))).outputs
    assert out.shape == (3, 16, 16, 3) and np.allclose(out[1:], 1.0)


async def test_image_crop_clamps_its_origin_inside_the_image(dirs: SimDirs) -> None:
    image = np.random.default_rng(2).random((1, 10, 10, 3), dtype=np.float32)
    (out,) = (
        await call("ImageCrop", {"image": image, "width": 4, "height": 4, "x": 8, "y": 50}, make_context(dirs))
    ).outputs
    assert out.shape == (1, 1, 2, 3) and np.array_equal(out, image[:, 9:10, 8:10])


async def test_blur_keeps_a_uniform_image_and_softens_an_edge(dirs: SimDirs) -> None:
    edge = np.zeros((1, 16, 16, 3), np.float32)
    edge[:, :, 8:] = 1.0
    (out,) = (await call("ImageBlur", {"image": edge, "blur_radius": 3, "sigma": 1.0}, make_context(dirs))).outputs
    assert out.shape == edge.shape
    assert 0.0 < out[0, 5, 7, 0] < 0.5 < out[0, 5, 8, 0] < 1.0
    assert np.allclose(out[:, :, :3], 0.0) and np.allclose(out[:, :, 13:], 1.0)


@pytest.mark.parametrize(("source", "target"), [((30, 40), (23, 17)), ((23, 17), (61, 45)), ((707, 707), (32, 32))])
def test_nearest_exact_picks_the_same_pixels_as_its_weight_matrix(
    source: tuple[int, int], target: tuple[int, int]
) -> None:
    image = np.random.default_rng(2).random((2, *source, 3), dtype=np.float32)
    rows, cols = _weights(source[0], target[0], "nearest-exact"), _weights(source[1], target[1], "nearest-exact")
    by_matrix = (rows @ image.transpose(0, 3, 1, 2) @ cols.T).transpose(0, 2, 3, 1)
    picked = resize(image, target[1], target[0], "nearest-exact")
    assert picked.shape == (2, *target, 3) and picked.dtype == np.float32 and picked.flags.c_contiguous
    assert np.array_equal(picked, by_matrix)
