"""Node implementations of `orch sim`: real pixel/mask/text nodes and deterministic model stand-ins.

The server resolves a node's inputs (links replaced by upstream outputs), looks up its executor with
`get_executor(class_type)`, and awaits `executor(ctx, inputs)` for a `NodeResult`. Values along links are
numpy arrays shaped like ComfyUI's tensors (IMAGE [B,H,W,C], MASK [B,H,W], LATENT {"samples": [B,C,h,w]}) or the
small frozen dataclasses of `values` (MODEL, CLIP, VAE, CONDITIONING, …).

Families, one module each: `image`, `mask`, `latent`, `io` (load/save/preview/websocket/PreviewAny), `media`
(animations, video, latent files), `text` (primitives and strings) compute for real; `models` (loaders,
conditioning) and `sampler` (samplers, schedulers, VAE) stand in for models, their pictures drawn by `picture`.

Errors:

    SimInterrupted        raised through `ctx.check_interrupted()` / `ctx.sleep()` when the prompt is interrupted
    IndexError, ValueError, TypeError, RuntimeError, Exception
                          node failures, with ComfyUI's exception type and message where it has one
                          (ImageToMask "alpha" on RGB: IndexError "index 3 is out of bounds for dimension 3 with
                          size 3"; ComfyUI's `execution_error.exception_message` is that text plus "\\n");
                          TypeError names an input that is missing or of the wrong kind
    MemoryError           "Allocation on device…": a decode larger than `picture.MAX_DECODED_BYTES` (where ComfyUI
                          would raise torch.OutOfMemoryError on a small GPU)
"""

from __future__ import annotations

from .catalog import get_executor, is_changed_hook, model_free_classes, validate_inputs_hook, validated_inputs
from .context import Executor, NodeContext, NodeResult, SimDirs, SimInterrupted, SimState
from .object_info import augment_object_info, default_models

__all__ = [
    "Executor",
    "NodeContext",
    "NodeResult",
    "SimDirs",
    "SimInterrupted",
    "SimState",
    "augment_object_info",
    "default_models",
    "get_executor",
    "is_changed_hook",
    "model_free_classes",
    "validate_inputs_hook",
    "validated_inputs",
]
