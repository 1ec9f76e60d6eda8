"""Artifact ports: where files and strings enter a workflow and where results leave it.

Inputs are loader nodes (patched through their file widget) and string primitives; outputs are save and
preview nodes. A port id is ``<node id>.<input or output name>`` and so survives re-saving.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from orch_common.workflow.api import ApiPrompt, is_link, parse_api
from orch_common.workflow.object_info import ObjectInfoIndex
from orch_common.workflow.params import Address

__all__ = ["ArtifactKind", "Port", "Ports", "find_ports"]


class ArtifactKind(StrEnum):
    IMAGE = "IMAGE"
    MASK = "MASK"
    VIDEO = "VIDEO"
    AUDIO = "AUDIO"
    LATENT = "LATENT"
    STRING = "STRING"


@dataclass(frozen=True)
class Port:
    id: str
    node_id: str
    kind: ArtifactKind
    label: str
    address: Address | None = None
    provides: tuple[ArtifactKind, ...] = ()


@dataclass(frozen=True)
class Ports:
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]


_LOADERS: dict[str, tuple[str, ArtifactKind, tuple[ArtifactKind, ...]]] = {
    "LoadImage": ("image", ArtifactKind.IMAGE, (ArtifactKind.IMAGE, ArtifactKind.MASK)),
    "LoadImageOutput": ("image", ArtifactKind.IMAGE, (ArtifactKind.IMAGE, ArtifactKind.MASK)),
    "LoadImageMask": ("image", ArtifactKind.MASK, (ArtifactKind.MASK,)),
    "LoadVideo": ("file", ArtifactKind.VIDEO, (ArtifactKind.VIDEO,)),
    "LoadAudio": ("audio", ArtifactKind.AUDIO, (ArtifactKind.AUDIO,)),
}
_UPLOAD_KINDS = {"image": ArtifactKind.IMAGE, "animated_image": ArtifactKind.IMAGE, "video": ArtifactKind.VIDEO}
_STRING_SOURCES = {"PrimitiveString": "value", "PrimitiveStringMultiline": "value"}
_SAVERS: dict[str, tuple[str, ArtifactKind]] = {
    "SaveImage": ("images", ArtifactKind.IMAGE),
    "PreviewImage": ("images", ArtifactKind.IMAGE),
    "SaveImageWebsocket": ("images", ArtifactKind.IMAGE),
    "SaveAnimatedPNG": ("images", ArtifactKind.IMAGE),
    "SaveVideo": ("video", ArtifactKind.VIDEO),
    "SaveAnimatedWEBP": ("images", ArtifactKind.VIDEO),
    "SaveWEBM": ("images", ArtifactKind.VIDEO),
    "SaveLatent": ("samples", ArtifactKind.LATENT),
    "PreviewAny": ("source", ArtifactKind.STRING),
    "SaveAudio": ("audio", ArtifactKind.AUDIO),
    "SaveAudioMP3": ("audio", ArtifactKind.AUDIO),
    "SaveAudioOpus": ("audio", ArtifactKind.AUDIO),
    "PreviewAudio": ("audio", ArtifactKind.AUDIO),
}
_MASK_TO_IMAGE = frozenset({"MaskToImage"})


def _title(prompt: ApiPrompt, node_id: str, fallback: str) -> str:
    return prompt[node_id].title or fallback


def find_ports(api_prompt: ApiPrompt | Mapping[str, Any], index: ObjectInfoIndex) -> Ports:
    """The typed artifact inputs and outputs of an API prompt."""
    prompt = api_prompt if isinstance(api_prompt, ApiPrompt) else parse_api(api_prompt)
    inputs: list[Port] = []
    outputs: list[Port] = []
    for node_id, node in prompt.items():
        info = index.get_class(node.class_type)
        display = info.display_name if info else node.class_type
        loader = _LOADERS.get(node.class_type)
        if loader is None and info is not None:
            upload = next((w for w in info.widget_inputs if w.image_upload and w.upload_kind in _UPLOAD_KINDS), None)
            if upload is not None and upload.upload_kind is not None:
                kind = _UPLOAD_KINDS[upload.upload_kind]
                loader = (upload.name, kind, (kind,))
        if loader is not None and not is_link(node.inputs.get(loader[0])):
            name, kind, provides = loader
            inputs.append(
                Port(
                    f"{node_id}.{name}",
                    node_id,
                    kind,
                    _title(prompt, node_id, display),
                    Address(node_id, name),
                    provides,
                )
            )
        string_input = _STRING_SOURCES.get(node.class_type)
        if string_input and not is_link(node.inputs.get(string_input)):
            inputs.append(
                Port(
                    f"{node_id}.{string_input}",
                    node_id,
                    ArtifactKind.STRING,
                    _title(prompt, node_id, display),
                    Address(node_id, string_input),
                    (ArtifactKind.STRING,),
                )
            )
        saver = _SAVERS.get(node.class_type)
        if saver is not None:
            name, kind = saver
            source = node.inputs.get(name)
            if kind is ArtifactKind.IMAGE and isinstance(source, list) and is_link(source):
                origin = prompt.get(str(source[0]))
                if origin is not None and origin.class_type in _MASK_TO_IMAGE:
                    kind = ArtifactKind.MASK
            outputs.append(Port(f"{node_id}.{name}", node_id, kind, _title(prompt, node_id, display), provides=(kind,)))
    return Ports(inputs=tuple(inputs), outputs=tuple(outputs))
