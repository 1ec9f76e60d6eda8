"""The model stand-ins: the SD1.5 template end to end, determinism, progress, previews, interruption, affinity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from orch_sim.nodes import SimDirs, SimInterrupted, SimState
from orch_sim.nodes.values import SimVae

from .fakes import Recorder, call, make_context, make_dirs, run_prompt

CHECKPOINT = "v1-5-pruned-emaonly-fp16.safetensors"


@pytest.fixture
def dirs(tmp_path: Path) -> SimDirs:
    return make_dirs(tmp_path)


def txt2img(
    seed: int = 156680208700286,
    text: str = "beautiful scenery nature glass bottle landscape, , purple galaxy bottle,",
    steps: int = 20,
    width: int = 512,
    height: int = 512,
    batch: int = 1,
    checkpoint: str = CHECKPOINT,
) -> dict[str, Any]:
    """workflows/ui_default.json in API form."""
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": width, "height": height, "batch_size": batch}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark", "clip": ["4", 1]}},
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": seed,
                "steps": steps,
                "cfg": 8,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "ComfyUI"}},
    }


async def saved_bytes(dirs: SimDirs, prompt: dict[str, Any], **kwargs: Any) -> bytes:
    results = await run_prompt(prompt, dirs, **kwargs)
    (entry,) = results["9"].ui["images"]
    return (dirs.output / entry["subfolder"] / entry["filename"]).read_bytes()


async def test_the_default_template_runs_end_to_end_into_a_512px_png(dirs: SimDirs) -> None:
    results = await run_prompt(txt2img(), dirs)
    assert results["9"].ui == {"images": [{"filename": "ComfyUI_00001_.png", "subfolder": "", "type": "output"}]}
    with Image.open(dirs.output / "ComfyUI_00001_.png") as saved:
        assert (saved.size, saved.mode) == ((512, 512), "RGB")
        assert np.asarray(saved).std() > 10, "a picture, not a flat fill"


async def test_identical_inputs_give_identical_bytes(dirs: SimDirs) -> None:
    assert await saved_bytes(dirs, txt2img()) == await saved_bytes(dirs, txt2img())


def difference(a: bytes, b: bytes, tmp: Path) -> float:
    (tmp / "a.png").write_bytes(a)
    (tmp / "b.png").write_bytes(b)
    first = np.asarray(Image.open(tmp / "a.png")).astype(np.float32)
    second = np.asarray(Image.open(tmp / "b.png")).astype(np.float32)
    return float(np.abs(first - second).mean())


async def test_a_different_seed_or_prompt_gives_a_clearly_different_picture(dirs: SimDirs, tmp_path: Path) -> None:
    base = await saved_bytes(dirs, txt2img(seed=1))
    other_seed = await saved_bytes(dirs, txt2img(seed=2))
    other_prompt = await saved_bytes(dirs, txt2img(seed=1, text="a lighthouse at night"))
    assert difference(base, other_seed, tmp_path) > 5
    assert difference(base, other_prompt, tmp_path) > 5


async def test_a_batch_holds_different_pictures(dirs: SimDirs) -> None:
    results = await run_prompt(txt2img(batch=2, width=128, height=64), dirs)
    (images,) = results["8"].outputs
    assert images.shape == (2, 64, 128, 3)
    assert float(np.abs(images[0] - images[1]).mean()) > 0.02


async def test_ksampler_reports_each_step_and_previews_only_when_enabled(dirs: SimDirs) -> None:
    quiet, loud = Recorder(), Recorder()
    await run_prompt(txt2img(steps=7, width=256, height=192), dirs, recorder=quiet)
    await run_prompt(txt2img(steps=7, width=256, height=192), dirs, recorder=loud, previews=True)
    assert quiet.progress() == loud.progress() == [(i, 7) for i in range(1, 8)]
    assert quiet.previews() == []
    assert [kind for kind, _ in loud.events] == ["progress", "preview"] * 7
    assert {preview.size for preview in loud.previews()} == {(32, 24)}


async def test_each_step_sleeps_the_configured_step_time(dirs: SimDirs) -> None:
    recorder = Recorder()
    await run_prompt(txt2img(steps=5, width=64, height=64), dirs, SimState(step_seconds=0.25), recorder=recorder)
    assert recorder.slept == [0.25] * 5


async def test_an_interrupt_stops_the_sampler_between_steps(dirs: SimDirs) -> None:
    recorder = Recorder(interrupt_after_sleeps=3)
    with pytest.raises(SimInterrupted):
        await run_prompt(txt2img(steps=20, width=64, height=64), dirs, recorder=recorder)
    assert len(recorder.progress()) < 20
    assert not any(dirs.output.iterdir())


async def test_a_checkpoint_load_costs_time_only_when_the_checkpoint_changes(dirs: SimDirs) -> None:
    state = SimState(model_load_seconds=3.0, step_seconds=0.0)
    first, again, other = Recorder(), Recorder(), Recorder()
    await call("CheckpointLoaderSimple", {"ckpt_name": "a.safetensors"}, make_context(dirs, state, recorder=first))
    await call("CheckpointLoaderSimple", {"ckpt_name": "a.safetensors"}, make_context(dirs, state, recorder=again))
    await call("CheckpointLoaderSimple", {"ckpt_name": "b.safetensors"}, make_context(dirs, state, recorder=other))
    assert (first.slept, again.slept, other.slept) == ([3.0], [], [3.0])
    assert state.loaded_checkpoint == "b.safetensors"


async def test_vae_decode_is_eight_times_the_latent_and_encode_inverts_it(dirs: SimDirs) -> None:
    ctx = make_context(dirs)
    _model, _clip, vae = (await call("CheckpointLoaderSimple", {"ckpt_name": CHECKPOINT}, ctx)).outputs
    (latent,) = (await call("EmptySD3LatentImage", {"width": 96, "height": 64, "batch_size": 1}, ctx)).outputs
    assert latent["samples"].shape == (1, 16, 8, 12)
    (image,) = (await call("VAEDecode", {"samples": latent, "vae": vae}, ctx)).outputs
    assert image.shape == (1, 64, 96, 3)
    picture = np.zeros((1, 70, 100, 3), np.float32)
    picture[:, :, 50:] = 0.8
    (encoded,) = (await call("VAEEncode", {"pixels": picture, "vae": vae}, ctx)).outputs
    assert encoded["samples"].shape == (1, 4, 8, 12)
    (decoded,) = (await call("VAEDecode", {"samples": encoded, "vae": vae}, ctx)).outputs
    assert decoded.shape == (1, 64, 96, 3)
    assert abs(float(decoded[0, :, :40].mean())) < 0.02 and abs(float(decoded[0, :, 60:].mean()) - 0.8) < 0.02


async def test_img2img_with_low_denoise_stays_close_to_the_input(dirs: SimDirs) -> None:
    ctx = make_context(dirs)
    model, clip, vae = (await call("CheckpointLoaderSimple", {"ckpt_name": CHECKPOINT}, ctx)).outputs
    (positive,) = (await call("CLIPTextEncode", {"text": "a cat", "clip": clip}, ctx)).outputs
    source = np.full((1, 64, 64, 3), 0.5, np.float32)
    (latent,) = (await call("VAEEncode", {"pixels": source, "vae": vae}, ctx)).outputs
    outs = []
    for denoise in (0.1, 1.0):
        (sampled,) = (
            await call(
                "KSampler",
                {
                    "model": model,
                    "seed": 5,
                    "steps": 2,
                    "cfg": 7.0,
                    "sampler_name": "euler",
                    "scheduler": "normal",
                    "positive": positive,
                    "negative": positive,
                    "latent_image": latent,
                    "denoise": denoise,
                },
                ctx,
            )
        ).outputs
        (image,) = (await call("VAEDecode", {"samples": sampled, "vae": vae}, ctx)).outputs
        outs.append(float(np.abs(image - source).mean()))
    assert outs[0] < outs[1] / 3


async def test_the_sdxl_refiner_chain_of_advanced_samplers_runs(dirs: SimDirs) -> None:
    recorder = Recorder()
    ctx = make_context(dirs, recorder=recorder)
    base = (await call("CheckpointLoaderSimple", {"ckpt_name": "sd_xl_base_1.0.safetensors"}, ctx)).outputs
    (positive,) = (await call("CLIPTextEncode", {"text": "a castle", "clip": base[1]}, ctx)).outputs
    (negative,) = (await call("CLIPTextEncode", {"text": "", "clip": base[1]}, ctx)).outputs
    (latent,) = (await call("EmptyLatentImage", {"width": 128, "height": 128, "batch_size": 1}, ctx)).outputs
    common = {
        "cfg": 8.0,
        "sampler_name": "euler",
        "scheduler": "normal",
        "positive": positive,
        "negative": negative,
        "noise_seed": 9,
        "steps": 25,
    }
    (noisy,) = (
        await call(
            "KSamplerAdvanced",
            {
                **common,
                "model": base[0],
                "add_noise": "enable",
                "latent_image": latent,
                "start_at_step": 0,
                "end_at_step": 20,
                "return_with_leftover_noise": "enable",
            },
            ctx,
        )
    ).outputs
    (done,) = (
        await call(
            "KSamplerAdvanced",
            {
                **common,
                "model": base[0],
                "add_noise": "disable",
                "latent_image": noisy,
                "start_at_step": 20,
                "end_at_step": 10000,
                "return_with_leftover_noise": "disable",
            },
            ctx,
        )
    ).outputs
    assert recorder.progress() == [(i, 20) for i in range(1, 21)] + [(i, 5) for i in range(1, 6)]
    assert done["samples"].shape == (1, 4, 16, 16) and "sim_clean" not in done
    assert float(np.abs(noisy["samples"] - done["samples"]).mean()) > 0.05


async def test_sampler_custom_advanced_runs_as_many_steps_as_sigmas(dirs: SimDirs) -> None:
    recorder = Recorder()
    ctx = make_context(dirs, recorder=recorder)
    (model,) = (await call("UNETLoader", {"unet_name": "sim-unet.safetensors", "weight_dtype": "default"}, ctx)).outputs
    (clip,) = (
        await call("CLIPLoader", {"clip_name": "sim-clip-l.safetensors", "type": "stable_diffusion"}, ctx)
    ).outputs
    (conditioning,) = (await call("CLIPTextEncode", {"text": "waves", "clip": clip}, ctx)).outputs
    (guider,) = (await call("BasicGuider", {"model": model, "conditioning": conditioning}, ctx)).outputs
    (sampler,) = (await call("KSamplerSelect", {"sampler_name": "euler"}, ctx)).outputs
    (sigmas,) = (
        await call("BasicScheduler", {"model": model, "scheduler": "simple", "steps": 4, "denoise": 1.0}, ctx)
    ).outputs
    (noise,) = (await call("RandomNoise", {"noise_seed": 3}, ctx)).outputs
    (latent,) = (await call("EmptyLatentImage", {"width": 64, "height": 64, "batch_size": 1}, ctx)).outputs
    output, denoised = (
        await call(
            "SamplerCustomAdvanced",
            {"noise": noise, "guider": guider, "sampler": sampler, "sigmas": sigmas, "latent_image": latent},
            ctx,
        )
    ).outputs
    assert len(sigmas) == 5 and recorder.progress() == [(i, 4) for i in range(1, 5)]
    assert output["samples"].shape == (1, 4, 8, 8) and np.array_equal(output["samples"], denoised["samples"])


@pytest.mark.parametrize(
    ("name", "factor"),
    [("sim-2x-upscaler.pth", 2), ("4x-UltraSharp.pth", 4), ("RealESRGAN_x2plus.pth", 2), ("mystery.pth", 4)],
)
async def test_upscale_models_resize_by_the_factor_in_their_name(dirs: SimDirs, name: str, factor: int) -> None:
    ctx = make_context(dirs)
    (model,) = (await call("UpscaleModelLoader", {"model_name": name}, ctx)).outputs
    (image,) = (
        await call(
            "ImageUpscaleWithModel", {"upscale_model": model, "image": np.zeros((1, 10, 12, 3), np.float32)}, ctx
        )
    ).outputs
    assert image.shape == (1, 10 * factor, 12 * factor, 3)


async def test_lora_and_controlnet_change_the_picture_and_loras_at_zero_do_not(dirs: SimDirs) -> None:
    ctx = make_context(dirs)
    model, clip, _vae = (await call("CheckpointLoaderSimple", {"ckpt_name": CHECKPOINT}, ctx)).outputs
    lora_model, _lora_clip = (
        await call(
            "LoraLoader",
            {"model": model, "clip": clip, "lora_name": "x.safetensors", "strength_model": 1.0, "strength_clip": 1.0},
            ctx,
        )
    ).outputs
    same_model, same_clip = (
        await call(
            "LoraLoader",
            {"model": model, "clip": clip, "lora_name": "x.safetensors", "strength_model": 0.0, "strength_clip": 0.0},
            ctx,
        )
    ).outputs
    assert (same_model, same_clip) == (model, clip) and lora_model != model
    (net,) = (await call("ControlNetLoader", {"control_net_name": "sim-controlnet-canny.safetensors"}, ctx)).outputs
    (positive,) = (await call("CLIPTextEncode", {"text": "a cat", "clip": clip}, ctx)).outputs
    (controlled,) = (
        await call(
            "ControlNetApply",
            {
                "conditioning": positive,
                "control_net": net,
                "image": np.zeros((1, 8, 8, 3), np.float32),
                "strength": 1.0,
            },
            ctx,
        )
    ).outputs
    assert controlled.texts == positive.texts and controlled.digest != positive.digest


async def test_latent_upscale_keeps_channels_and_scales_the_grid(dirs: SimDirs) -> None:
    ctx = make_context(dirs)
    (latent,) = (await call("EmptyLatentImage", {"width": 64, "height": 48, "batch_size": 2}, ctx)).outputs
    (up,) = (
        await call(
            "LatentUpscale",
            {"samples": latent, "upscale_method": "nearest-exact", "width": 128, "height": 96, "crop": "disabled"},
            ctx,
        )
    ).outputs
    (by,) = (
        await call("LatentUpscaleBy", {"samples": latent, "upscale_method": "bislerp", "scale_by": 1.5}, ctx)
    ).outputs
    assert up["samples"].shape == (2, 4, 12, 16) and by["samples"].shape == (2, 4, 9, 12)


def wan_ti2v(length: int = 9, with_start: bool = True) -> dict[str, Any]:
    """The Wan 2.2 5B text/image-to-video template of comfyui-workflow-templates, in API form, made small."""
    latent_inputs: dict[str, Any] = {"width": 160, "height": 96, "length": length, "batch_size": 1, "vae": ["3", 0]}
    if with_start:
        latent_inputs["start_image"] = ["10", 0]
    return {
        "1": {
            "class_type": "UNETLoader",
            "inputs": {"unet_name": "wan2.2_ti2v_5B_fp16.safetensors", "weight_dtype": "default"},
        },
        "2": {
            "class_type": "CLIPLoader",
            "inputs": {"clip_name": "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "type": "wan", "device": "default"},
        },
        "3": {"class_type": "VAELoader", "inputs": {"vae_name": "wan2.2_vae.safetensors"}},
        "10": {"class_type": "EmptyImage", "inputs": {"width": 160, "height": 96, "batch_size": 1, "color": 0xFF8800}},
        "4": {"class_type": "Wan22ImageToVideoLatent", "inputs": latent_inputs},
        "5": {"class_type": "ModelSamplingSD3", "inputs": {"model": ["1", 0], "shift": 8}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a musician in a subway", "clip": ["2", 0]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "static, blurry", "clip": ["2", 0]}},
        "8": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 898471028164125,
                "steps": 3,
                "cfg": 5,
                "sampler_name": "uni_pc",
                "scheduler": "simple",
                "denoise": 1,
                "model": ["5", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["4", 0],
            },
        },
        "9": {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["3", 0]}},
        "11": {"class_type": "CreateVideo", "inputs": {"images": ["9", 0], "fps": 24}},
        "12": {
            "class_type": "SaveVideo",
            "inputs": {"video": ["11", 0], "filename_prefix": "video/ComfyUI", "format": "auto", "codec": "auto"},
        },
    }


async def test_the_wan_video_template_makes_a_moving_video_that_opens_on_the_start_image(dirs: SimDirs) -> None:
    recorder = Recorder()
    results = await run_prompt(wan_ti2v(), dirs, recorder=recorder)
    (latent,) = results["4"].outputs
    assert latent["samples"].shape == (1, 48, 3, 6, 10)
    (frames,) = results["9"].outputs
    assert frames.shape == (9, 96, 160, 3)
    assert recorder.progress() == [(1, 3), (2, 3), (3, 3)]
    orange = np.array([1.0, 0x88 / 255, 0.0], np.float32)
    assert float(np.abs(frames[0] - orange).mean()) < 0.05
    assert float(np.abs(frames[-1] - frames[4]).mean()) > 0.01, "the scene moves"
    (entry,) = results["12"].ui["images"]
    assert entry["subfolder"] == "video" and results["12"].ui["animated"] == [True]
    with Image.open(dirs.output / "video" / entry["filename"]) as saved:
        assert saved.n_frames == 9 and saved.size == (160, 96)


async def test_decoding_a_video_too_large_for_the_host_fails_like_an_out_of_memory(dirs: SimDirs) -> None:
    ctx = make_context(dirs)
    (latent,) = (
        await call("EmptyHunyuanLatentVideo", {"width": 1280, "height": 720, "length": 121, "batch_size": 4}, ctx)
    ).outputs
    with pytest.raises(MemoryError, match="Allocation on device"):
        await call("VAEDecode", {"samples": latent, "vae": SimVae("v")}, ctx)
