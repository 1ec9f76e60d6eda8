"""Where a ComfyUI output goes in the Object Store and what kind of artifact it is."""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from typing import Any

from orch_common.comfy.wire import OutputFileItem, OutputItem, OutputText, OutputValue, output_items
from orch_common.contracts.events import ArtifactKind

__all__ = [
    "MASK_CLASSES",
    "artifact_key",
    "classify",
    "content_type_for",
    "node_outputs",
    "text_filename",
]

MASK_CLASSES = frozenset({"MaskToImage", "SolidMask", "GrowMask", "ImageToMask", "MaskComposite", "FeatherMask"})
"""Node classes whose image output is a mask (a mask saved as an image is still a mask)."""

_KIND_BY_PORT: Mapping[str, ArtifactKind] = {
    "images": ArtifactKind.IMAGE,
    "masks": ArtifactKind.MASK,
    "gifs": ArtifactKind.VIDEO,
    "video": ArtifactKind.VIDEO,
    "videos": ArtifactKind.VIDEO,
    "animated": ArtifactKind.VIDEO,
    "audio": ArtifactKind.AUDIO,
    "audios": ArtifactKind.AUDIO,
    "text": ArtifactKind.TEXT,
    "latents": ArtifactKind.LATENT,
}


def node_outputs(node_id: str, ui_output: Mapping[str, Any] | None) -> list[tuple[int, OutputItem]]:
    """The storable items of one node's UI output (files and texts) with their index within the node.

    The index counts every item of the node in the server's order, so the same UI dict (from `executed` or
    from `/history`) always yields the same indexes.
    """
    items = output_items(node_id, dict(ui_output) if ui_output else None)
    return [(index, item) for index, item in enumerate(items) if isinstance(item, OutputFileItem | OutputText)]


def text_filename(item: OutputText) -> str:
    return f"{item.kind}.txt"


def artifact_key(job_id: str, attempt: int, node_id: str, index: int, filename: str) -> str:
    """`<job_id>/<attempt>/<node_id>/<index>-<filename>` (the Object Store key and the artifact id)."""
    return f"{job_id}/{attempt}/{node_id}/{index}-{filename.replace('/', '_')}"


def _upstream_classes(prompt: Mapping[str, Any], node_id: str) -> list[str]:
    node = prompt.get(node_id)
    if not isinstance(node, dict):
        return []
    classes: list[str] = []
    for value in (node.get("inputs") or {}).values():
        if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
            upstream = prompt.get(value[0])
            if isinstance(upstream, dict) and isinstance(upstream.get("class_type"), str):
                classes.append(upstream["class_type"])
    return classes


def classify(
    item: OutputItem, prompt: Mapping[str, Any] | None = None, content_type: str | None = None
) -> ArtifactKind:
    """The artifact kind of an output item: by its UI port, refined by the node classes around it."""
    if isinstance(item, OutputText):
        return ArtifactKind.TEXT
    if isinstance(item, OutputValue):
        return ArtifactKind.FILE
    kind = _KIND_BY_PORT.get(item.kind)
    if kind is ArtifactKind.IMAGE or kind is None:
        if item.animated and kind is None:
            kind = ArtifactKind.VIDEO
        node = (prompt or {}).get(item.node_id)
        own_class = node.get("class_type") if isinstance(node, dict) else None
        if own_class in MASK_CLASSES or any(c in MASK_CLASSES for c in _upstream_classes(prompt or {}, item.node_id)):
            return ArtifactKind.MASK
    if kind is not None:
        return kind
    mime = content_type or content_type_for(item.file.filename)
    if mime.startswith("image/"):
        return ArtifactKind.IMAGE
    if mime.startswith("video/"):
        return ArtifactKind.VIDEO
    if mime.startswith("audio/"):
        return ArtifactKind.AUDIO
    if mime.startswith("text/"):
        return ArtifactKind.TEXT
    return ArtifactKind.FILE


_EXTRA_TYPES = {
    ".webp": "image/webp",
    ".webm": "video/webm",
    ".flac": "audio/flac",
    ".latent": "application/octet-stream",
}


def content_type_for(filename: str, reported: str | None = None) -> str:
    """The content type of a file: what the server reported if specific, else guessed from its name."""
    if reported and reported.split(";")[0].strip() not in ("", "application/octet-stream"):
        return reported.split(";")[0].strip()
    suffix = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix in _EXTRA_TYPES:
        return _EXTRA_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"
