"""Stand-ins for model loaders and conditioning: they carry names and texts, never weights.

Loading a checkpoint (or diffusion model) different from `SimState.loaded_checkpoint` costs
`SimState.model_load_seconds` of interruptible sleep, which is what makes model affinity measurable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from .context import NodeContext, NodeResult
from .registry import NodeTable
from .values import (
    SimClip,
    SimClipVision,
    SimClipVisionOutput,
    SimConditioning,
    SimControlNet,
    SimModel,
    SimStyleModel,
    SimUpscaleModel,
    SimVae,
    fingerprint,
    get_float,
    get_image,
    get_int,
    get_str,
    get_value,
)

__all__ = ["TABLE", "ensure_loaded", "upscale_factor"]

TABLE = NodeTable(real=False)


async def ensure_loaded(ctx: NodeContext, name: str) -> None:
    """Pay the model load time unless `name` is what the fake GPU already holds."""
    if ctx.state.loaded_checkpoint != name:
        if ctx.state.model_load_seconds > 0:
            await ctx.sleep(ctx.state.model_load_seconds)
        ctx.state.loaded_checkpoint = name


_CHECKPOINT_OUTPUTS: dict[str, Callable[[str], tuple[Any, ...]]] = {
    "CheckpointLoaderSimple": lambda name: (SimModel(name), SimClip(name), SimVae(name)),
    "CheckpointLoader": lambda name: (SimModel(name), SimClip(name), SimVae(name)),
    "unCLIPCheckpointLoader": lambda name: (SimModel(name), SimClip(name), SimVae(name), SimClipVision(name)),
    "ImageOnlyCheckpointLoader": lambda name: (SimModel(name), SimClipVision(name), SimVae(name)),
}


@TABLE.node(*_CHECKPOINT_OUTPUTS)
async def checkpoint_loader(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    name = get_str(inputs, "ckpt_name")
    await ensure_loaded(ctx, name)
    return NodeResult(_CHECKPOINT_OUTPUTS[ctx.class_type](name))


@TABLE.node("UNETLoader")
async def unet_loader(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    name = get_str(inputs, "unet_name")
    await ensure_loaded(ctx, name)
    return NodeResult((SimModel(name),))


@TABLE.compute("VAELoader", inline=True)
def vae_loader(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return (SimVae(get_str(inputs, "vae_name")),)


@TABLE.compute("CLIPLoader", inline=True)
def clip_loader(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return (SimClip(get_str(inputs, "clip_name")),)


@TABLE.compute("DualCLIPLoader", "TripleCLIPLoader", "QuadrupleCLIPLoader", inline=True)
def multi_clip_loader(inputs: dict[str, Any]) -> tuple[Any, ...]:
    names = [get_str(inputs, f"clip_name{i}") for i in range(1, 5) if f"clip_name{i}" in inputs]
    return (SimClip("+".join(names)),)


@TABLE.compute("CLIPVisionLoader", inline=True)
def clip_vision_loader(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return (SimClipVision(get_str(inputs, "clip_name")),)


@TABLE.compute("LoraLoader", inline=True)
def lora_loader(inputs: dict[str, Any]) -> tuple[Any, ...]:
    model, clip = get_value(inputs, "model", SimModel), get_value(inputs, "clip", SimClip)
    name = get_str(inputs, "lora_name")
    model_strength, clip_strength = get_float(inputs, "strength_model", 1.0), get_float(inputs, "strength_clip", 1.0)
    if model_strength != 0:
        model = SimModel(model.name, (*model.loras, (name, model_strength)))
    if clip_strength != 0:
        clip = SimClip(clip.name, (*clip.loras, (name, clip_strength)), clip.stop_at_layer)
    return (model, clip)


@TABLE.compute("LoraLoaderModelOnly", inline=True)
def lora_loader_model_only(inputs: dict[str, Any]) -> tuple[Any, ...]:
    model = get_value(inputs, "model", SimModel)
    strength = get_float(inputs, "strength_model", 1.0)
    if strength == 0:
        return (model,)
    return (SimModel(model.name, (*model.loras, (get_str(inputs, "lora_name"), strength))),)


@TABLE.compute("ModelSamplingAuraFlow", "ModelSamplingSD3", "ModelSamplingFlux", "ModelSamplingDiscrete", inline=True)
def model_sampling(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return (get_value(inputs, "model", SimModel),)


@TABLE.compute("CLIPSetLastLayer", inline=True)
def clip_set_last_layer(inputs: dict[str, Any]) -> tuple[Any, ...]:
    clip = get_value(inputs, "clip", SimClip)
    return (SimClip(clip.name, clip.loras, get_int(inputs, "stop_at_clip_layer", -1)),)


@TABLE.compute("CLIPTextEncode", inline=True)
def clip_text_encode(inputs: dict[str, Any]) -> tuple[Any, ...]:
    clip = inputs.get("clip")
    if not isinstance(clip, SimClip):
        raise RuntimeError(
            f"ERROR: clip input is invalid: {clip}\n\nIf the clip is from a checkpoint loader node your checkpoint "
            "does not contain a valid clip or text encoder model."
        )
    return (SimConditioning((get_str(inputs, "text"),), fingerprint(clip)),)


def _conditioning(inputs: dict[str, Any], name: str = "conditioning") -> SimConditioning:
    return get_value(inputs, name, SimConditioning)


def _merge(first: SimConditioning, second: SimConditioning, how: str) -> SimConditioning:
    return SimConditioning(
        first.texts + second.texts, first.clip, (*first.modifiers, f"{how}:{second.digest}", *second.modifiers)
    )


@TABLE.compute("ConditioningCombine", inline=True)
def conditioning_combine(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return (_merge(_conditioning(inputs, "conditioning_1"), _conditioning(inputs, "conditioning_2"), "combine"),)


@TABLE.compute("ConditioningConcat", inline=True)
def conditioning_concat(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return (_merge(_conditioning(inputs, "conditioning_to"), _conditioning(inputs, "conditioning_from"), "concat"),)


@TABLE.compute("ConditioningAverage", inline=True)
def conditioning_average(inputs: dict[str, Any]) -> tuple[Any, ...]:
    strength = get_float(inputs, "conditioning_to_strength", 1.0)
    merged = _merge(_conditioning(inputs, "conditioning_to"), _conditioning(inputs, "conditioning_from"), "average")
    return (merged.with_modifier(f"strength={strength}"),)


_TAGGED_SETTINGS = {
    "ConditioningSetArea": ("width", "height", "x", "y", "strength"),
    "ConditioningSetAreaPercentage": ("width", "height", "x", "y", "strength"),
    "ConditioningSetAreaStrength": ("strength",),
    "ConditioningSetTimestepRange": ("start", "end"),
    "ConditioningSetMask": ("strength", "set_cond_area"),
    "ConditioningSetAreaPercentageVideo": ("width", "height", "temporal", "x", "y", "z", "strength"),
    "ConditioningZeroOut": (),
    "FluxGuidance": ("guidance",),
    "FluxDisableGuidance": (),
}


def _tagger(class_type: str, settings: tuple[str, ...]) -> None:
    @TABLE.compute(class_type, inline=True)
    def tag(inputs: dict[str, Any]) -> tuple[Any, ...]:
        values = ",".join(f"{key}={inputs.get(key)!r}" for key in settings)
        return (_conditioning(inputs).with_modifier(f"{class_type}({values})"),)


for _class_type, _settings in _TAGGED_SETTINGS.items():
    _tagger(_class_type, _settings)


@TABLE.compute("ControlNetLoader", "DiffControlNetLoader", inline=True)
def control_net_loader(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return (SimControlNet(get_str(inputs, "control_net_name")),)


@TABLE.compute("ControlNetApply", inline=True)
def control_net_apply(inputs: dict[str, Any]) -> tuple[Any, ...]:
    strength = get_float(inputs, "strength", 1.0)
    conditioning = _conditioning(inputs)
    if strength == 0:
        return (conditioning,)
    net = get_value(inputs, "control_net", SimControlNet)
    return (conditioning.with_modifier(f"controlnet:{net.name}:{strength}"),)


@TABLE.compute("ControlNetApplyAdvanced", inline=True)
def control_net_apply_advanced(inputs: dict[str, Any]) -> tuple[Any, ...]:
    positive, negative = _conditioning(inputs, "positive"), _conditioning(inputs, "negative")
    strength = get_float(inputs, "strength", 1.0)
    if strength == 0:
        return (positive, negative)
    net = get_value(inputs, "control_net", SimControlNet)
    window = f"{get_float(inputs, 'start_percent', 0.0)}-{get_float(inputs, 'end_percent', 1.0)}"
    tag = f"controlnet:{net.name}:{strength}:{window}"
    return (positive.with_modifier(tag), negative.with_modifier(tag))


def upscale_factor(name: str) -> int:
    """The factor an upscale model's file name announces ("4x-UltraSharp", "RealESRGAN_x2plus"); 4 if none."""
    match = re.search(r"(?<![0-9])([1-8])x(?![0-9])|x([1-8])(?![0-9])", name, re.IGNORECASE)
    if match is None:
        return 4
    return int(match.group(1) or match.group(2))


@TABLE.compute("UpscaleModelLoader", inline=True)
def upscale_model_loader(inputs: dict[str, Any]) -> tuple[Any, ...]:
    name = get_str(inputs, "model_name")
    return (SimUpscaleModel(name, upscale_factor(name)),)


def _encode_text(inputs: dict[str, Any], *texts: str) -> SimConditioning:
    clip = inputs.get("clip")
    if not isinstance(clip, SimClip):
        raise RuntimeError(f"ERROR: clip input is invalid: {clip}")
    return SimConditioning(tuple(texts), fingerprint(clip))


@TABLE.compute("CLIPTextEncodeSDXL", inline=True)
def clip_text_encode_sdxl(inputs: dict[str, Any]) -> tuple[Any, ...]:
    keys = ("width", "height", "crop_w", "crop_h", "target_width", "target_height")
    size = ",".join(str(inputs.get(key)) for key in keys)
    encoded = _encode_text(inputs, get_str(inputs, "text_g"), get_str(inputs, "text_l"))
    return (encoded.with_modifier(f"sdxl({size})"),)


@TABLE.compute("CLIPTextEncodeSDXLRefiner", inline=True)
def clip_text_encode_sdxl_refiner(inputs: dict[str, Any]) -> tuple[Any, ...]:
    encoded = _encode_text(inputs, get_str(inputs, "text"))
    return (encoded.with_modifier(f"refiner(ascore={get_float(inputs, 'ascore', 6.0)})"),)


@TABLE.compute("CLIPTextEncodeFlux", inline=True)
def clip_text_encode_flux(inputs: dict[str, Any]) -> tuple[Any, ...]:
    encoded = _encode_text(inputs, get_str(inputs, "clip_l"), get_str(inputs, "t5xxl"))
    return (encoded.with_modifier(f"guidance={get_float(inputs, 'guidance', 3.5)}"),)


@TABLE.compute("LotusConditioning", inline=True)
def lotus_conditioning(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return (SimConditioning(("lotus",), "lotus"),)


@TABLE.compute("CLIPVisionEncode", inline=True)
def clip_vision_encode(inputs: dict[str, Any]) -> tuple[Any, ...]:
    vision = get_value(inputs, "clip_vision", SimClipVision)
    image = get_image(inputs, "image")
    return (SimClipVisionOutput(fingerprint(vision, image.shape, round(float(image.mean()), 4))),)


@TABLE.compute("unCLIPConditioning", inline=True)
def unclip_conditioning(inputs: dict[str, Any]) -> tuple[Any, ...]:
    conditioning = _conditioning(inputs)
    strength = get_float(inputs, "strength", 1.0)
    if strength == 0:
        return (conditioning,)
    vision = get_value(inputs, "clip_vision_output", SimClipVisionOutput)
    return (conditioning.with_modifier(f"unclip:{vision.digest}:{strength}"),)


@TABLE.compute("StyleModelLoader", inline=True)
def style_model_loader(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return (SimStyleModel(get_str(inputs, "style_model_name")),)


@TABLE.compute("StyleModelApply", inline=True)
def style_model_apply(inputs: dict[str, Any]) -> tuple[Any, ...]:
    style = get_value(inputs, "style_model", SimStyleModel)
    vision = get_value(inputs, "clip_vision_output", SimClipVisionOutput)
    tag = f"style:{style.name}:{vision.digest}:{get_float(inputs, 'strength', 1.0)}"
    return (_conditioning(inputs).with_modifier(tag),)


@TABLE.compute("HypernetworkLoader", inline=True)
def hypernetwork_loader(inputs: dict[str, Any]) -> tuple[Any, ...]:
    model = get_value(inputs, "model", SimModel)
    strength = get_float(inputs, "strength", 1.0)
    if strength == 0:
        return (model,)
    return (SimModel(model.name, (*model.loras, (get_str(inputs, "hypernetwork_name"), strength))),)


@TABLE.compute("ReferenceLatent", inline=True)
def reference_latent(inputs: dict[str, Any]) -> tuple[Any, ...]:
    conditioning = _conditioning(inputs)
    latent = inputs.get("latent")
    if not isinstance(latent, dict) or not isinstance(latent.get("samples"), np.ndarray):
        return (conditioning,)
    samples = latent["samples"]
    return (conditioning.with_modifier(f"reference:{fingerprint(samples.shape, samples.tobytes())}"),)
