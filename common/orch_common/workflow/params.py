"""Parameter inspection: every widget input of every node of an API prompt, and which ones to expose.

A parameter's address is (node id, input name): both survive re-saving a workflow, unlike positions in
``widgets_values``. Prompt texts are labelled positive or negative by following the CLIPTextEncode's
output downstream (through conditioning nodes) to a sampler's ``positive``/``negative`` input.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orch_common.workflow.api import ApiPrompt, is_link, parse_api
from orch_common.workflow.object_info import ObjectInfoIndex
from orch_common.workflow.validate import unwrap_value

__all__ = ["Address", "Parameter", "Suggestion", "inspect_parameters", "suggest_exposed"]


@dataclass(frozen=True, order=True)
class Address:
    node_id: str
    input: str

    def __str__(self) -> str:
        return f"{self.node_id}.{self.input}"


@dataclass(frozen=True)
class Parameter:
    address: Address
    node_title: str
    class_type: str
    type: str
    default: Any
    value: Any
    linked: bool = False
    min: float | None = None
    max: float | None = None
    step: float | None = None
    round: float | bool | None = None
    choices: tuple[Any, ...] | None = None
    multiline: bool = False
    dynamic_prompts: bool = False
    image_upload: bool = False
    upload_kind: str | None = None
    prompt_role: str | None = None


@dataclass(frozen=True)
class Suggestion:
    id: str
    label: str
    parameter: Parameter


def _titles_from_ui(ui: Mapping[str, Any] | None) -> dict[str, str]:
    if not ui or not isinstance(ui.get("nodes"), list):
        return {}
    return {
        str(n.get("id")): n["title"] for n in ui["nodes"] if isinstance(n, dict) and isinstance(n.get("title"), str)
    }


def _prompt_roles(prompt: ApiPrompt) -> dict[str, str]:
    """node id → 'positive' / 'negative' for nodes whose output reaches a sampler's conditioning input."""
    consumers: dict[str, list[tuple[str, str]]] = {}
    for node_id, node in prompt.items():
        for name, value in node.inputs.items():
            if is_link(value):
                consumers.setdefault(str(value[0]), []).append((node_id, name))
    roles: dict[str, str] = {}
    for node_id in prompt:
        queue, seen = deque([node_id]), {node_id}
        found: set[str] = set()
        while queue:
            current = queue.popleft()
            for target, name in consumers.get(current, []):
                if name in ("positive", "negative"):
                    found.add(name)
                elif target not in seen:
                    seen.add(target)
                    queue.append(target)
        if len(found) == 1:
            roles[node_id] = found.pop()
    return roles


def inspect_parameters(
    api_prompt: ApiPrompt | Mapping[str, Any], index: ObjectInfoIndex, ui: Mapping[str, Any] | None = None
) -> list[Parameter]:
    """One ``Parameter`` per widget input of every node the server knows, in prompt order."""
    prompt = api_prompt if isinstance(api_prompt, ApiPrompt) else parse_api(api_prompt)
    titles = _titles_from_ui(ui)
    roles = _prompt_roles(prompt)
    result = []
    for node_id, node in prompt.items():
        info = index.get_class(node.class_type)
        if info is None:
            continue
        title = node.title or titles.get(node_id) or info.display_name
        for spec in info.widget_inputs:
            raw = node.inputs.get(spec.name, spec.default)
            linked = is_link(raw)
            result.append(
                Parameter(
                    address=Address(node_id, spec.name),
                    node_title=title,
                    class_type=node.class_type,
                    type=spec.type,
                    default=spec.default,
                    value=None if linked else unwrap_value(raw),
                    linked=linked,
                    min=spec.min,
                    max=spec.max,
                    step=spec.step,
                    round=spec.round,
                    choices=spec.choices,
                    multiline=spec.multiline,
                    dynamic_prompts=spec.dynamic_prompts,
                    image_upload=spec.image_upload,
                    upload_kind=spec.upload_kind,
                    prompt_role=roles.get(node_id) if spec.type == "STRING" else None,
                )
            )
    return result


_SAMPLER_INPUTS = {
    "seed": "Seed",
    "noise_seed": "Seed",
    "steps": "Steps",
    "cfg": "CFG",
    "sampler_name": "Sampler",
    "scheduler": "Scheduler",
    "denoise": "Denoise",
}
_SIZE_INPUTS = {"width": "Width", "height": "Height", "batch_size": "Batch size"}


def _label(p: Parameter) -> str | None:
    name = p.address.input
    if name in _SAMPLER_INPUTS and (name not in ("seed", "noise_seed") or p.type == "INT"):
        return _SAMPLER_INPUTS[name]
    if p.type == "STRING" and p.multiline and p.prompt_role:
        return "Positive prompt" if p.prompt_role == "positive" else "Negative prompt"
    if name in _SIZE_INPUTS and ("Latent" in p.class_type or p.class_type == "EmptyImage"):
        return _SIZE_INPUTS[name]
    if p.image_upload:
        return {"video": "Input video", "audio": "Input audio"}.get(p.upload_kind or "", "Input image")
    return None


def _slug(label: str) -> str:
    return "_".join(label.lower().split())


def suggest_exposed(params: list[Parameter]) -> list[Suggestion]:
    """The parameters a user usually wants on the outside, with stable unique ids and labels."""
    picked = [(p, label) for p in params if not p.linked and (label := _label(p))]
    counts: dict[str, int] = {}
    for _, label in picked:
        counts[label] = counts.get(label, 0) + 1
    result = []
    for p, label in picked:
        base = _slug(label)
        if counts[label] > 1:
            result.append(Suggestion(f"{base}_{p.address.node_id}", f"{label} ({p.node_title})", p))
        else:
            result.append(Suggestion(base, label, p))
    return result
