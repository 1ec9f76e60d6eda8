"""UI-format workflows: converted to API format with the object_info of the backend they will run on.

The object_info of each backend is fetched with the ComfyUI client and cached by its content hash (the hash the
agent registered, else the hash of the body fetched).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Iterable, Mapping
from typing import Any

from orch_api.errors import ApiError, BadGateway, Unprocessable
from orch_api.registry import BackendRecord
from orch_common.workflow import MissingNodeClassError, ObjectInfoIndex, convert_ui_to_api

__all__ = ["ObjectInfoStore", "pick_backend_for_ui", "ui_node_types"]

log = logging.getLogger(__name__)


def ui_node_types(ui: Mapping[str, Any]) -> set[str]:
    nodes = ui.get("nodes")
    if not isinstance(nodes, list):
        return set()
    return {str(n["type"]) for n in nodes if isinstance(n, Mapping) and isinstance(n.get("type"), str)}


def pick_backend_for_ui(
    ui: Mapping[str, Any], backends: Mapping[str, BackendRecord], pinned: str | None
) -> BackendRecord:
    """The pinned backend, else the one (with a comfy_url) that knows most of the workflow's node types."""
    if pinned is not None:
        if pinned not in backends:
            raise Unprocessable(f"unknown backend {pinned!r}", code="unknown_backend")
        chosen = backends[pinned]
    else:
        candidates = [b for b in backends.values() if b.comfy_url]
        if not candidates:
            raise Unprocessable(
                "a UI-format workflow needs a registered backend to convert it, and none is registered",
                code="no_backends",
            )
        types = ui_node_types(ui)
        chosen = max(candidates, key=lambda b: (len(types & b.node_classes), b.status != "offline", b.id))
    if not chosen.comfy_url:
        raise Unprocessable(f"backend {chosen.id!r} has no comfy_url to read its object_info from")
    return chosen


class ObjectInfoStore:
    """Each backend's `/object_info` (and the converter's index over it), cached by content hash."""

    def __init__(self, *, timeout: float) -> None:
        self.timeout = timeout
        self._by_hash: dict[str, dict[str, Any]] = {}
        self._indexes: dict[str, ObjectInfoIndex] = {}

    async def object_info(self, backend: BackendRecord) -> tuple[str, dict[str, Any]]:
        """(content hash, object_info) of `backend`, fetched only when its registered hash is not cached."""
        registered = backend.capabilities.get("object_info_hash")
        if isinstance(registered, str) and registered in self._by_hash:
            return registered, self._by_hash[registered]
        from orch_common.comfy.client import ComfyClient
        from orch_common.comfy.errors import ComfyError

        assert backend.comfy_url is not None
        try:
            async with ComfyClient(backend.comfy_url, timeout=self.timeout) as comfy:
                info = await comfy.object_info()
                digest = comfy.object_info_hash()
        except ComfyError as exc:
            raise BadGateway(f"could not read /object_info of backend {backend.id!r}: {exc}") from None
        self._by_hash[digest] = info
        if isinstance(registered, str):
            self._by_hash[registered] = info
        return digest, info

    async def index(self, backend: BackendRecord) -> ObjectInfoIndex:
        """The converter's `ObjectInfoIndex` for `backend`'s object_info (one per content hash)."""
        digest, info = await self.object_info(backend)
        if digest not in self._indexes:
            self._indexes[digest] = ObjectInfoIndex(info)
        return self._indexes[digest]

    async def answering(
        self, backends: Iterable[BackendRecord], *, tries: int, wait_s: float
    ) -> AsyncGenerator[tuple[BackendRecord, ObjectInfoIndex]]:
        """The index of each of `backends` that answers within `wait_s`, online ones first, `tries` asked at most
        (those without a comfy_url are not asked). Use it under `contextlib.aclosing` when stopping early."""
        askable = sorted((b for b in backends if b.comfy_url), key=lambda b: (b.status != "online", not b.live, b.id))
        for backend in askable[:tries]:
            try:
                index = await asyncio.wait_for(self.index(backend), wait_s)
            except (ApiError, TimeoutError) as exc:
                log.debug("no object_info from %s: %s", backend.id, exc)
                continue
            yield backend, index

    async def convert(self, ui: Mapping[str, Any], backend: BackendRecord) -> dict[str, Any]:
        """Convert a UI workflow to an API prompt with `backend`'s object_info; 422 naming what failed."""
        index = await self.index(backend)
        try:
            converted = await asyncio.to_thread(convert_ui_to_api, dict(ui), index)
        except ApiError:
            raise
        except Exception as exc:  # the converter's own errors go to the caller
            missing = isinstance(exc, MissingNodeClassError)
            raise Unprocessable(
                f"could not convert the UI workflow with backend {backend.id!r}'s object_info: {exc}",
                code="unknown_node_classes" if missing else "ui_conversion_failed",
            ) from None
        prompt = getattr(converted, "prompt", converted)
        if not isinstance(prompt, dict):
            raise Unprocessable("the UI workflow converted to something that is not an API prompt")
        return prompt
