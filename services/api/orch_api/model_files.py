"""The model files a prompt needs (`JobSubmitted.required_models`) and whether some backend has them.

A prompt names its model files as COMBO values of loader inputs (`CheckpointLoaderSimple.ckpt_name =
"sd15.safetensors"`). Candidates are the literal string inputs ending in a model file suffix on a loader node or
a `*_name` input. When there are any and a capable backend's `/object_info` can be had (cached by hash,
`OBJECT_INFO_WAIT_S` at most each), `orch_common.workflow.capability.check_capability` has the last word: the
model-file values of the prompt's COMBO inputs there.

Each file is placed in the model folder the registered backends list it under (capabilities `models`:
folder → files, the same map the scheduler's placement checks); a file listed under several folders goes to
the one most backends use. A file that no backend lists, or a set of files no single capable backend holds,
is refused with 422 `missing_models`, naming the files and which backends have which.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orch_api.conversion import ObjectInfoStore
from orch_api.errors import Unprocessable
from orch_api.registry import BackendRecord
from orch_common.workflow import check_capability
from orch_common.workflow.capability import MODEL_SUFFIXES

__all__ = ["ModelUse", "check_models", "confirm_model_uses", "model_folders", "model_uses", "required_models"]

log = logging.getLogger(__name__)

OBJECT_INFO_WAIT_S = 5.0
OBJECT_INFO_TRIES = 2
_MAX_NAMED = 20


@dataclass(frozen=True, slots=True)
class ModelUse:
    """One model-file input of the prompt."""

    node_id: str
    class_type: str
    input: str
    name: str


def model_uses(workflow: Mapping[str, Any]) -> list[ModelUse]:
    """The literal model-file values of loader inputs in a (checked) API-format prompt, in prompt order."""
    uses: list[ModelUse] = []
    for node_id, node in workflow.items():
        class_type = str(node["class_type"])
        for name, value in (node.get("inputs") or {}).items():
            if not isinstance(value, str) or not value.lower().endswith(MODEL_SUFFIXES):
                continue
            if "Loader" in class_type or name.endswith("_name"):
                uses.append(ModelUse(str(node_id), class_type, str(name), value))
    return uses


async def confirm_model_uses(
    uses: list[ModelUse],
    workflow: Mapping[str, Any],
    backends: Sequence[BackendRecord],
    store: ObjectInfoStore,
) -> list[ModelUse]:
    """The model-file COMBO inputs by the object_info of the first of `backends` that answers (online ones
    first, `OBJECT_INFO_TRIES` asked at most); asked only when the cheap `uses` found candidates.

    Without an answer (no comfy_url, unreachable, slow) the uses are kept as they are.
    """
    if not uses:
        return uses
    answering = store.answering(backends, tries=OBJECT_INFO_TRIES, wait_s=OBJECT_INFO_WAIT_S)
    async with contextlib.aclosing(answering):
        async for backend, index in answering:
            try:
                capability = check_capability(dict(workflow), index)
            except Exception as exc:  # the checker's own errors must not refuse a submission
                log.warning("model inputs not confirmed with %s's object_info: %s", backend.id, exc)
                continue
            return [
                ModelUse(str(m.node_id), str(workflow[m.node_id]["class_type"]), str(m.input), str(m.name))
                for m in capability.required_models
            ]
    return uses


def _models(backend: BackendRecord) -> dict[str, set[str]]:
    models = backend.capabilities.get("models")
    if not isinstance(models, Mapping):
        return {}
    return {str(folder): {str(f) for f in files} for folder, files in models.items() if isinstance(files, list)}


def model_folders(name: str, backends: Mapping[str, BackendRecord]) -> list[str]:
    """The folders `name` is listed under, most backends first (ties by folder name)."""
    counts = Counter(folder for b in backends.values() for folder, files in _models(b).items() if name in files)
    return sorted(counts, key=lambda folder: (-counts[folder], folder))


def required_models(uses: list[ModelUse], backends: Mapping[str, BackendRecord]) -> dict[str, list[str]]:
    """Folder → sorted files, for the files some backend lists (the others are refused by `check_models`)."""
    required: dict[str, set[str]] = {}
    for use in uses:
        folders = model_folders(use.name, backends)
        if folders:
            required.setdefault(folders[0], set()).add(use.name)
    return {folder: sorted(files) for folder, files in sorted(required.items())}


def _has_all(backend: BackendRecord, required: Mapping[str, list[str]]) -> bool:
    models = _models(backend)
    return all(set(files) <= models.get(folder, set()) for folder, files in required.items())


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_NAMED])
    return shown + (f" and {len(items) - _MAX_NAMED} more" if len(items) > _MAX_NAMED else "")


def check_models(
    uses: list[ModelUse],
    required: Mapping[str, list[str]],
    backends: Mapping[str, BackendRecord],
    capable: list[str],
    pinned: str | None = None,
) -> list[str]:
    """Raise 422 `missing_models` unless one of `capable` (ids that have the node classes; the pinned one when
    pinned) has every file; return those that do."""
    if not uses:
        return capable
    files = sorted({use.name for use in uses})
    where = {
        name: sorted(b.id for b in backends.values() if any(name in f for f in _models(b).values())) for name in files
    }
    nowhere = [name for name in files if not where[name]]
    able = [] if nowhere else [backend_id for backend_id in capable if _has_all(backends[backend_id], required)]
    if able:
        return able
    described = "; ".join(f"{name} on {_names(ids) if ids else 'no backend'}" for name, ids in where.items())
    if pinned is not None:
        message = f"backend {pinned!r} does not have every model file the workflow needs ({described})"
    elif nowhere:
        message = f"no registered backend has model file(s) {_names(nowhere)} ({described})"
    else:
        message = f"no backend that can run the workflow's nodes has all of its model files ({described})"
    raise Unprocessable(
        message,
        code="missing_models",
        extra={
            "missing_models": nowhere,
            "required_models": dict(required),
            "backends_with": where,
            "nodes": [{"node_id": u.node_id, "input": u.input, "name": u.name} for u in uses],
        },
    )
