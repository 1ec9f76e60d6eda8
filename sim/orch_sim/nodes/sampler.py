"""Latents, samplers and the VAE: the "GPU" part of the sim.

Every sampler runs its steps as: check for interruption, sleep `SimState.step_seconds` of fake GPU time,
report progress `(i + 1, steps)`, and (when previews are on) send a preview of the partly denoised latent.
The result is `picture.generate(...)` blended with the input latent by the denoise strength, so the same
inputs give the same bytes and a different seed or prompt gives a visibly different picture.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from .context import NodeContext, NodeResult
from .latent import CLEAN_KEY, START_FRAME_KEY, VIDEO_SCALE_KEY, empty_video_latent, make_latent
from .picture import decode, decode_video, encode, ensure_fits, generate, generate_video, noise_like
from .registry import NodeTable
from .resample import resize
from .values import (
    Array,
    SimConditioning,
    SimGuider,
    SimModel,
    SimNoise,
    SimSampler,
    SimUpscaleModel,
    SimVae,
    fingerprint,
    get_bool,
    get_float,
    get_image,
    get_int,
    get_latent,
    get_mask,
    get_str,
    get_value,
    pil_from_image,
)

__all__ = ["SIGMA_MAX", "TABLE", "SampleRequest", "sample"]

TABLE = NodeTable(real=False)

SIGMA_MAX = 14.614642
SIGMA_MIN = 0.0291675


@dataclass(frozen=True)
class SampleRequest:
    """What one sampling run depends on."""

    model: SimModel
    seed: int
    steps: int
    cfg: float
    sampler_name: str
    scheduler: str
    positive: SimConditioning
    negative: SimConditioning | None
    denoise: float
    add_noise: bool = True
    leftover_noise: float = 0.0

    @property
    def palette_key(self) -> str:
        """The prompt texts alone choose the colours; everything else only nudges them."""
        return fingerprint(self.positive.texts)

    @property
    def style_key(self) -> str:
        negative = self.negative.digest if self.negative is not None else None
        settings = (round(self.cfg, 2), self.sampler_name, self.scheduler, self.steps)
        return fingerprint(self.positive.clip, self.positive.modifiers, negative, self.model, settings)


def _video_target(request: SampleRequest, shape: tuple[int, ...], start_frame: Any) -> Array:
    target = generate_video(request.seed, request.palette_key, request.style_key, shape)
    if isinstance(start_frame, np.ndarray) and start_frame.shape[1:] == (shape[1], shape[3], shape[4]):
        # an image-to-video latent: open on the start image and drift into the generated scene
        frames = shape[2]
        for frame in range(frames):
            weight = np.float32(min(1.0, frame / max((frames - 1) / 2, 1)))
            target[:, :, frame] = start_frame[:1] * (1 - weight) + target[:, :, frame] * weight
    return target


def _preview(samples: Array) -> Image.Image:
    first = samples[:1, :, 0] if samples.ndim == 5 else samples[:1]
    return pil_from_image(decode(first, scale=1)[0])


async def sample(ctx: NodeContext, request: SampleRequest, latent: dict[str, Any]) -> dict[str, Any]:
    """Run the fake sampler on `latent` (see the module docstring) and return the new LATENT."""
    start = latent.get(CLEAN_KEY, latent["samples"]).astype(np.float32)
    shape = tuple(start.shape)
    if len(shape) == 5:
        target = _video_target(request, shape, latent.get(START_FRAME_KEY))
    elif len(shape) == 4:
        target = generate(request.seed, request.palette_key, request.style_key, shape)
    else:
        raise ValueError(f"the sim samples latents [B, C, H, W] or [B, C, T, H, W], got shape {shape}")
    denoise = min(max(request.denoise, 0.0), 1.0)
    clean = (1 - denoise) * start + denoise * target
    mask = latent.get("noise_mask")
    if isinstance(mask, np.ndarray) and len(shape) == 4:
        planes = mask.reshape(-1, mask.shape[-2], mask.shape[-1], 1).astype(np.float32)
        weight = resize(planes, shape[3], shape[2], "bilinear").transpose(0, 3, 1, 2)
        clean = start * (1 - weight) + clean * weight
    noise = noise_like(request.seed, shape) if request.add_noise else np.zeros(shape, np.float32)
    begin = (1 - denoise) * start + denoise * noise
    for step in range(request.steps):
        ctx.check_interrupted()
        await ctx.sleep(ctx.state.step_seconds)
        ctx.check_interrupted()
        await ctx.report_progress(step + 1, request.steps)
        if ctx.previews_enabled:
            progress = (step + 1) / request.steps * (1 - request.leftover_noise)
            await ctx.send_preview(_preview(begin * (1 - progress) + clean * progress))
    if request.leftover_noise > 0:
        noisy = clean * (1 - request.leftover_noise) + noise * request.leftover_noise
        return make_latent(noisy.astype(np.float32), latent, **{CLEAN_KEY: clean.astype(np.float32)})
    return make_latent(clean.astype(np.float32), latent)


def _negative(inputs: dict[str, Any]) -> SimConditioning | None:
    value = inputs.get("negative")
    return value if isinstance(value, SimConditioning) else None


@TABLE.node("KSampler")
async def ksampler(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    request = SampleRequest(
        model=get_value(inputs, "model", SimModel),
        seed=get_int(inputs, "seed", 0),
        steps=get_int(inputs, "steps", 20),
        cfg=get_float(inputs, "cfg", 8.0),
        sampler_name=get_str(inputs, "sampler_name", "euler"),
        scheduler=get_str(inputs, "scheduler", "normal"),
        positive=get_value(inputs, "positive", SimConditioning),
        negative=_negative(inputs),
        denoise=get_float(inputs, "denoise", 1.0),
    )
    return NodeResult((await sample(ctx, request, get_latent(inputs, "latent_image")),))


@TABLE.node("KSamplerAdvanced")
async def ksampler_advanced(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    latent = get_latent(inputs, "latent_image")
    steps = get_int(inputs, "steps", 20)
    first, last = get_int(inputs, "start_at_step", 0), min(get_int(inputs, "end_at_step", 10000), steps)
    if last <= first:
        return NodeResult((latent,))
    leftover = get_str(inputs, "return_with_leftover_noise", "disable") == "enable" and last < steps
    request = SampleRequest(
        model=get_value(inputs, "model", SimModel),
        seed=get_int(inputs, "noise_seed", 0),
        steps=last - first,
        cfg=get_float(inputs, "cfg", 8.0),
        sampler_name=get_str(inputs, "sampler_name", "euler"),
        scheduler=get_str(inputs, "scheduler", "normal"),
        positive=get_value(inputs, "positive", SimConditioning),
        negative=_negative(inputs),
        denoise=1.0 - first / steps,
        add_noise=get_str(inputs, "add_noise", "enable") == "enable",
        leftover_noise=(1.0 - last / steps) if leftover else 0.0,
    )
    return NodeResult((await sample(ctx, request, latent),))


def _sigmas(inputs: dict[str, Any]) -> Array:
    value = inputs.get("sigmas")
    if not isinstance(value, np.ndarray) or value.ndim != 1:
        raise TypeError("input 'sigmas' must be a SIGMAS array")
    return value.astype(np.float32, copy=False)


def _denoise_of(sigmas: Array) -> float:
    return float(min(1.0, max(0.0, sigmas[0] / SIGMA_MAX))) if len(sigmas) else 0.0


@TABLE.node("SamplerCustom")
async def sampler_custom(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    latent, sigmas = get_latent(inputs, "latent_image"), _sigmas(inputs)
    if len(sigmas) < 2:
        return NodeResult((latent, latent))
    request = SampleRequest(
        model=get_value(inputs, "model", SimModel),
        seed=get_int(inputs, "noise_seed", 0),
        steps=len(sigmas) - 1,
        cfg=get_float(inputs, "cfg", 8.0),
        sampler_name=get_value(inputs, "sampler", SimSampler).name,
        scheduler=fingerprint(sigmas.tolist()),
        positive=get_value(inputs, "positive", SimConditioning),
        negative=_negative(inputs),
        denoise=_denoise_of(sigmas),
        add_noise=get_bool(inputs, "add_noise", True),
    )
    out = await sample(ctx, request, latent)
    return NodeResult((out, out))


@TABLE.node("SamplerCustomAdvanced")
async def sampler_custom_advanced(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    latent, sigmas = get_latent(inputs, "latent_image"), _sigmas(inputs)
    if len(sigmas) < 2:
        return NodeResult((latent, latent))
    noise, guider = get_value(inputs, "noise", SimNoise), get_value(inputs, "guider", SimGuider)
    request = SampleRequest(
        model=guider.model,
        seed=noise.seed or 0,
        steps=len(sigmas) - 1,
        cfg=guider.cfg,
        sampler_name=get_value(inputs, "sampler", SimSampler).name,
        scheduler=fingerprint(sigmas.tolist()),
        positive=guider.positive,
        negative=guider.negative,
        denoise=_denoise_of(sigmas),
        add_noise=noise.seed is not None,
    )
    out = await sample(ctx, request, latent)
    return NodeResult((out, out))


@TABLE.compute("KSamplerSelect", inline=True)
def ksampler_select(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return (SimSampler(get_str(inputs, "sampler_name", "euler")),)


@TABLE.compute("RandomNoise", inline=True)
def random_noise(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return (SimNoise(get_int(inputs, "noise_seed", 0)),)


@TABLE.compute("DisableNoise", inline=True)
def disable_noise(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return (SimNoise(None),)


@TABLE.compute("CFGGuider", inline=True)
def cfg_guider(inputs: dict[str, Any]) -> tuple[Any, ...]:
    model = get_value(inputs, "model", SimModel)
    positive = get_value(inputs, "positive", SimConditioning)
    return (SimGuider(model, positive, _negative(inputs), get_float(inputs, "cfg", 8.0)),)


@TABLE.compute("BasicGuider", inline=True)
def basic_guider(inputs: dict[str, Any]) -> tuple[Any, ...]:
    model = get_value(inputs, "model", SimModel)
    return (SimGuider(model, get_value(inputs, "conditioning", SimConditioning), None, 1.0),)


def _schedule(steps: int, sigma_max: float, sigma_min: float, rho: float = 7.0) -> Array:
    ramp = np.linspace(0.0, 1.0, steps)
    high, low = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    values = (high + ramp * (low - high)) ** rho
    return np.append(values, 0.0).astype(np.float32)


_SAMPLER_NODES = (
    "SamplerEulerAncestral",
    "SamplerEulerAncestralCFGPP",
    "SamplerEulerCFGpp",
    "SamplerDPMPP_2M_SDE",
    "SamplerDPMPP_2S_Ancestral",
    "SamplerDPMPP_3M_SDE",
    "SamplerDPMPP_SDE",
    "SamplerER_SDE",
    "SamplerLMS",
    "SamplerDPMAdaptative",
    "SamplerLCMUpscale",
)


@TABLE.node(*_SAMPLER_NODES)
async def configured_sampler(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    settings = ",".join(f"{key}={inputs[key]!r}" for key in sorted(inputs))
    return NodeResult((SimSampler(f"{ctx.class_type}({settings})"),))


@TABLE.compute(
    "BasicScheduler",
    "SDTurboScheduler",
    "AlignYourStepsScheduler",
    "GITSScheduler",
    "OptimalStepsScheduler",
    inline=True,
)
def basic_scheduler(inputs: dict[str, Any]) -> tuple[Any, ...]:
    steps, denoise = get_int(inputs, "steps", 20), get_float(inputs, "denoise", 1.0)
    if denoise <= 0:
        return (np.zeros(0, dtype=np.float32),)
    return (_schedule(steps, SIGMA_MAX * denoise, SIGMA_MIN),)


@TABLE.compute(
    "KarrasScheduler",
    "ExponentialScheduler",
    "PolyexponentialScheduler",
    "LaplaceScheduler",
    "VPScheduler",
    "LTXVScheduler",
    inline=True,
)
def sigma_range_scheduler(inputs: dict[str, Any]) -> tuple[Any, ...]:
    steps = get_int(inputs, "steps", 20)
    high, low = get_float(inputs, "sigma_max", SIGMA_MAX), get_float(inputs, "sigma_min", SIGMA_MIN)
    return (_schedule(steps, high, max(low, 1e-6), get_float(inputs, "rho", 7.0) or 1.0),)


@TABLE.compute("SplitSigmas", inline=True)
def split_sigmas(inputs: dict[str, Any]) -> tuple[Any, ...]:
    sigmas, step = _sigmas(inputs), get_int(inputs, "step", 0)
    return (sigmas[: step + 1].copy(), sigmas[step:].copy())


@TABLE.compute("SplitSigmasDenoise", inline=True)
def split_sigmas_denoise(inputs: dict[str, Any]) -> tuple[Any, ...]:
    sigmas = _sigmas(inputs)
    steps = max(len(sigmas) - 1, 0)
    step = round(steps * get_float(inputs, "denoise", 1.0))
    return (sigmas[: steps - step + 1].copy(), sigmas[steps - step :].copy())


@TABLE.compute("FlipSigmas", inline=True)
def flip_sigmas(inputs: dict[str, Any]) -> tuple[Any, ...]:
    sigmas = _sigmas(inputs)[::-1].copy()
    if len(sigmas) and sigmas[0] == 0:
        sigmas[0] = 0.0001
    return (sigmas,)


@TABLE.compute("ExtendIntermediateSigmas", inline=True)
def extend_intermediate_sigmas(inputs: dict[str, Any]) -> tuple[Any, ...]:
    sigmas, steps = _sigmas(inputs), get_int(inputs, "steps", 2)
    start, end = get_float(inputs, "start_at_sigma", -1.0), get_float(inputs, "end_at_sigma", 12.0)
    out: list[float] = []
    for high, low in zip(sigmas[:-1].tolist(), sigmas[1:].tolist(), strict=True):
        out.append(high)
        if (start < 0 or high <= start) and high >= end:
            out.extend(high + (low - high) * k / (steps + 1) for k in range(1, steps + 1))
    out.extend(sigmas[-1:].tolist())
    return (np.asarray(out, dtype=np.float32),)


@TABLE.compute("SetFirstSigma", inline=True)
def set_first_sigma(inputs: dict[str, Any]) -> tuple[Any, ...]:
    sigmas = _sigmas(inputs).copy()
    if len(sigmas):
        sigmas[0] = get_float(inputs, "sigma", 136.0)
    return (sigmas,)


def _decode(inputs: dict[str, Any]) -> tuple[Any, ...]:
    get_value(inputs, "vae", SimVae)
    latent = get_latent(inputs, "samples")
    samples = latent["samples"]
    if samples.ndim == 5:
        temporal, spatial = latent.get(VIDEO_SCALE_KEY, (4, 8))
        return (decode_video(samples, int(temporal), int(spatial)),)
    if samples.ndim != 4:
        raise ValueError(f"the sim decodes latents [B, C, H, W] or [B, C, T, H, W], got shape {samples.shape}")
    return (decode(samples),)


TABLE.compute("VAEDecode", "VAEDecodeTiled")(_decode)


@TABLE.compute("VAEEncode", "VAEEncodeTiled")
def vae_encode(inputs: dict[str, Any]) -> tuple[Any, ...]:
    get_value(inputs, "vae", SimVae)
    return (make_latent(encode(get_image(inputs, "pixels"))),)


@TABLE.compute("VAEEncodeForInpaint")
def vae_encode_for_inpaint(inputs: dict[str, Any]) -> tuple[Any, ...]:
    get_value(inputs, "vae", SimVae)
    pixels, mask = get_image(inputs, "pixels"), get_mask(inputs, "mask")
    return (make_latent(encode(pixels), noise_mask=mask),)


@TABLE.node("ImageUpscaleWithModel")
async def image_upscale_with_model(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    model, image = get_value(inputs, "upscale_model", SimUpscaleModel), get_image(inputs, "image")
    tiles = max(1, math.ceil(image.shape[0] * image.shape[1] * image.shape[2] / (512 * 512)))
    for _ in range(tiles):
        ctx.check_interrupted()
        await ctx.sleep(ctx.state.step_seconds)
    width, height = image.shape[2] * model.scale, image.shape[1] * model.scale
    ensure_fits(image.shape[0], width, height)
    result = await asyncio.to_thread(resize, image, width, height, "bicubic")
    return NodeResult((np.clip(result, 0.0, 1.0),))


def _pixel_conditioning(inputs: dict[str, Any], tag: str) -> tuple[SimConditioning, SimConditioning]:
    positive = get_value(inputs, "positive", SimConditioning)
    negative = get_value(inputs, "negative", SimConditioning)
    return positive.with_modifier(tag), negative.with_modifier(tag)


@TABLE.compute("InpaintModelConditioning")
def inpaint_model_conditioning(inputs: dict[str, Any]) -> tuple[Any, ...]:
    get_value(inputs, "vae", SimVae)
    pixels, mask = get_image(inputs, "pixels"), get_mask(inputs, "mask")
    latent = make_latent(encode(pixels))
    if get_bool(inputs, "noise_mask", True):
        latent["noise_mask"] = mask
    positive, negative = _pixel_conditioning(inputs, f"inpaint:{fingerprint(pixels.shape, float(mask.mean()))}")
    return (positive, negative, latent)


@TABLE.compute("InstructPixToPixConditioning")
def instruct_pix_to_pix_conditioning(inputs: dict[str, Any]) -> tuple[Any, ...]:
    get_value(inputs, "vae", SimVae)
    pixels = get_image(inputs, "pixels")
    positive, negative = _pixel_conditioning(inputs, f"ip2p:{fingerprint(pixels.shape, float(pixels.mean()))}")
    return (positive, negative, make_latent(np.zeros_like(encode(pixels))))


@TABLE.compute("DualCFGGuider", inline=True)
def dual_cfg_guider(inputs: dict[str, Any]) -> tuple[Any, ...]:
    model = get_value(inputs, "model", SimModel)
    first, second = get_value(inputs, "cond1", SimConditioning), get_value(inputs, "cond2", SimConditioning)
    positive = SimConditioning(first.texts + second.texts, first.clip, (*first.modifiers, *second.modifiers))
    return (SimGuider(model, positive, _negative(inputs), get_float(inputs, "cfg_conds", 8.0)),)


@TABLE.node("WanImageToVideo", "HunyuanImageToVideo")
async def image_to_video(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    get_value(inputs, "vae", SimVae)
    latent = await asyncio.to_thread(empty_video_latent, ctx.class_type, inputs)
    start = latent.get(START_FRAME_KEY)
    tag = f"i2v:{fingerprint(start.tobytes()) if isinstance(start, np.ndarray) else None}"
    positive = get_value(inputs, "positive", SimConditioning).with_modifier(tag)
    if ctx.class_type == "HunyuanImageToVideo":
        return NodeResult((positive, latent))
    return NodeResult((positive, get_value(inputs, "negative", SimConditioning).with_modifier(tag), latent))
