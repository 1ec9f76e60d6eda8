"""The wider node set: geometry, edges, morphology, latent compositing, and the recorded templates' classes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from orch_sim.nodes import SimDirs, get_executor

from .fakes import FIXTURES, call, fixture_json, make_context, make_dirs, run_prompt

FRONTEND_ONLY = {"MarkdownNote", "Note", "PrimitiveNode", "Reroute"}


@pytest.fixture
def dirs(tmp_path: Path) -> SimDirs:
    return make_dirs(tmp_path)


@pytest.mark.parametrize(
    "template",
    [
        "ui_default.json",
        "ui_image2image.json",
        "ui_hiresfix_groups_preview.json",
        "ui_sdxl_refiner_primitive_nodes.json",
        "ui_qwen_controlnet_subgraph.json",
    ],
)
def test_every_node_class_of_the_recorded_templates_can_run(template: str) -> None:
    workflow = fixture_json(f"workflows/{template}")
    subgraphs = workflow.get("definitions", {}).get("subgraphs", [])
    subgraph_ids = {graph["id"] for graph in subgraphs}
    nodes = workflow["nodes"] + [node for graph in subgraphs for node in graph.get("nodes", [])]
    classes = {node["type"] for node in nodes} - FRONTEND_ONLY - subgraph_ids
    assert {name for name in classes if get_executor(name) is None} == set()


async def test_the_image2image_template_runs_from_an_uploaded_picture(dirs: SimDirs) -> None:
    shutil.copy(FIXTURES / "upload_source.png", dirs.input / "example.png")
    prompt = {
        "14": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly-fp16.safetensors"}},
        "10": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
        "20": {
            "class_type": "ImageScaleToTotalPixels",
            "inputs": {"image": ["10", 0], "upscale_method": "nearest-exact", "megapixels": 0.01},
        },
        "12": {"class_type": "VAEEncode", "inputs": {"pixels": ["20", 0], "vae": ["14", 2]}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a photo", "clip": ["14", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "watermark", "clip": ["14", 1]}},
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 1,
                "steps": 3,
                "cfg": 8,
                "sampler_name": "dpmpp_2m",
                "scheduler": "normal",
                "denoise": 0.87,
                "model": ["14", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["12", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["14", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "ComfyUI"}},
    }
    results = await run_prompt(prompt, dirs)
    (scaled,) = results["20"].outputs
    (decoded,) = results["8"].outputs
    assert scaled.shape == (1, 89, 118, 3)
    assert decoded.shape == (1, 88, 112, 3)
    assert (dirs.output / "ComfyUI_00001_.png").is_file()


async def test_canny_finds_the_edge_of_a_square(dirs: SimDirs) -> None:
    image = np.zeros((1, 32, 32, 3), np.float32)
    image[:, 8:24, 8:24] = 1.0
    (edges,) = (
        await call("Canny", {"image": image, "low_threshold": 0.2, "high_threshold": 0.5}, make_context(dirs))
    ).outputs
    assert edges.shape == (1, 32, 32, 3) and set(np.unique(edges)) <= {0.0, 1.0}
    assert edges[0, 16, 6:10, 0].any() and not edges[0, 16, 12:20, 0].any() and not edges[0, 2:5, 2:5].any()


async def test_outpaint_padding_grows_the_image_and_masks_the_new_border(dirs: SimDirs) -> None:
    image = np.ones((1, 20, 30, 3), np.float32)
    padded, mask = (
        await call(
            "ImagePadForOutpaint",
            {"image": image, "left": 8, "top": 0, "right": 16, "bottom": 8, "feathering": 0},
            make_context(dirs),
        )
    ).outputs
    assert padded.shape == (1, 28, 54, 3) and mask.shape == (1, 28, 54)
    assert np.allclose(padded[0, :20, 8:38], 1.0) and np.allclose(padded[0, 25, :], 0.5)
    assert not mask[0, :20, 8:38].any() and mask[0, :, :8].all() and mask[0, 20:].all()


async def test_stitching_puts_images_side_by_side_with_spacing(dirs: SimDirs) -> None:
    first, second = np.zeros((1, 10, 10, 3), np.float32), np.ones((1, 20, 10, 3), np.float32)
    (right,) = (
        await call(
            "ImageStitch",
            {
                "image1": first,
                "image2": second,
                "direction": "right",
                "match_image_size": True,
                "spacing_width": 2,
                "spacing_color": "white",
            },
            make_context(dirs),
        )
    ).outputs
    (down,) = (
        await call(
            "ImageStitch",
            {
                "image1": first,
                "image2": second,
                "direction": "down",
                "match_image_size": False,
                "spacing_width": 0,
                "spacing_color": "white",
            },
            make_context(dirs),
        )
    ).outputs
    assert right.shape == (1, 10, 17, 3) and down.shape == (1, 30, 10, 3)


async def test_resize_and_pad_fits_inside_and_centres(dirs: SimDirs) -> None:
    image = np.zeros((1, 10, 40, 3), np.float32)
    (out,) = (
        await call(
            "ResizeAndPadImage",
            {
                "image": image,
                "target_width": 20,
                "target_height": 20,
                "padding_color": "white",
                "interpolation": "area",
            },
            make_context(dirs),
        )
    ).outputs
    assert out.shape == (1, 20, 20, 3)
    assert np.allclose(out[0, 7:12], 0.0) and np.allclose(out[0, :7], 1.0) and np.allclose(out[0, 12:], 1.0)


async def test_morphology_dilate_grows_and_erode_shrinks_a_dot(dirs: SimDirs) -> None:
    image = np.zeros((1, 9, 9, 3), np.float32)
    image[:, 4, 4] = 1.0
    grown = (
        await call("Morphology", {"image": image, "operation": "dilate", "kernel_size": 3}, make_context(dirs))
    ).outputs[0]
    shrunk = (
        await call("Morphology", {"image": grown, "operation": "erode", "kernel_size": 3}, make_context(dirs))
    ).outputs[0]
    assert grown[0, ..., 0].sum() == 9 and np.array_equal(shrunk, image)


async def test_latent_composite_masked_pastes_where_the_mask_is(dirs: SimDirs) -> None:
    destination = {"samples": np.zeros((1, 4, 8, 8), np.float32)}
    source = {"samples": np.ones((1, 4, 4, 4), np.float32)}
    (out,) = (
        await call(
            "LatentCompositeMasked",
            {"destination": destination, "source": source, "x": 16, "y": 32, "resize_source": False},
            make_context(dirs),
        )
    ).outputs
    assert out["samples"][0, :, 4:8, 2:6].min() == 1.0 and out["samples"].sum() == 4 * 16


async def test_yuv_round_trip_gives_back_the_image(dirs: SimDirs) -> None:
    image = np.random.default_rng(5).random((1, 6, 7, 3), dtype=np.float32) * 0.6 + 0.2
    y, u, v = (await call("ImageRGBToYUV", {"image": image}, make_context(dirs))).outputs
    (back,) = (await call("ImageYUVToRGB", {"Y": y, "U": u, "V": v}, make_context(dirs))).outputs
    assert y.shape == u.shape == v.shape == image.shape and np.allclose(back, image, atol=0.01)


async def test_latent_concat_and_cut_work_along_x_y_and_time(dirs: SimDirs) -> None:
    ctx = make_context(dirs)
    a, b = {"samples": np.zeros((1, 4, 5, 6), np.float32)}, {"samples": np.ones((1, 4, 5, 2), np.float32)}
    (joined,) = (await call("LatentConcat", {"samples1": a, "samples2": b, "dim": "-x"}, ctx)).outputs
    assert joined["samples"].shape == (1, 4, 5, 8) and joined["samples"][..., :2].min() == 1.0
    (cut,) = (await call("LatentCut", {"samples": joined, "dim": "x", "index": -3, "amount": 2}, ctx)).outputs
    assert cut["samples"].shape == (1, 4, 5, 2) and cut["samples"].max() == 0.0
    video = {"samples": np.zeros((1, 16, 7, 4, 4), np.float32)}
    (frames,) = (await call("LatentCut", {"samples": video, "dim": "t", "index": 2, "amount": 3}, ctx)).outputs
    assert frames["samples"].shape == (1, 16, 3, 4, 4)


async def test_sigma_tools_keep_their_shape_contracts(dirs: SimDirs) -> None:
    ctx = make_context(dirs)
    (sigmas,) = (
        await call("KarrasScheduler", {"steps": 6, "sigma_max": 14.6, "sigma_min": 0.03, "rho": 7.0}, ctx)
    ).outputs
    (flipped,) = (await call("FlipSigmas", {"sigmas": sigmas}, ctx)).outputs
    high, low = (await call("SplitSigmas", {"sigmas": sigmas, "step": 2}, ctx)).outputs
    assert len(sigmas) == 7 and sigmas[-1] == 0 and np.all(np.diff(sigmas) < 0)
    assert flipped[0] == np.float32(0.0001) and flipped[-1] == sigmas[0]
    assert len(high) == 3 and len(low) == 5 and high[-1] == low[0]


async def test_kontext_scale_picks_the_preferred_size_of_the_nearest_aspect(dirs: SimDirs) -> None:
    (wide,) = (
        await call("FluxKontextImageScale", {"image": np.zeros((1, 90, 160, 3), np.float32)}, make_context(dirs))
    ).outputs
    assert wide.shape == (1, 752, 1392, 3)
