"""An async client for one ComfyUI server: its HTTP routes and its websocket.

::

    async with ComfyClient("http://127.0.0.1:8188") as comfy:
        accepted = await comfy.submit_prompt(prompt, prompt_id=str(uuid4()))
        async for message in comfy.messages():
            ...  # wire.*Message or binary.* frames, until executing{node: null} for our prompt
        fate = await comfy.reconcile(accepted.prompt_id)

Every failure is raised as a :mod:`orch_common.comfy.errors` ``ComfyError``. The client sends no
``Origin`` header (ComfyUI answers 403 to a mismatching one). Execution messages reach only the
socket whose ``clientId`` submitted the prompt, so :meth:`submit_prompt` always sends this
client's ``client_id`` and :meth:`messages` connects with it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from types import MappingProxyType, TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from orch_common.comfy.binary import Frame, UnknownFrame, decode_frame
from orch_common.comfy.errors import (
    ComfyNotFound,
    ComfyProtocolError,
    error_for_exception,
    error_for_response,
)
from orch_common.comfy.object_info_cache import ObjectInfoCache
from orch_common.comfy.reconcile import PromptFate, determine_fate
from orch_common.comfy.wire import (
    FolderType,
    HistoryEntry,
    JobsPage,
    MessageType,
    OutputFile,
    PromptAccepted,
    PromptInfo,
    PromptRequest,
    QueueState,
    SystemStats,
    UnknownMessage,
    UploadedFile,
    WsMessage,
    parse_ws_message,
)

__all__ = ["DEFAULT_FEATURE_FLAGS", "ComfyClient", "ViewResult"]

log = logging.getLogger(__name__)

DEFAULT_FEATURE_FLAGS: Mapping[str, Any] = MappingProxyType({"supports_preview_metadata": True})
"""Sent first on every socket: ask for type-4 preview frames, which name their node and prompt."""

OBJECT_INFO_TIMEOUT = 300.0
"""Seconds allowed for the whole ``/object_info`` (tens of seconds with many custom nodes)."""

_M = TypeVar("_M", bound=BaseModel)


class ViewResult(BaseModel):
    """The bytes of a file fetched with ``GET /view``."""

    model_config = ConfigDict(frozen=True)

    content: bytes
    content_type: str | None = None


def _canonical_uuid(prompt_id: str) -> str:
    """Newer ComfyUI refuses client prompt ids that are not canonical lowercase hyphenated UUIDs."""
    try:
        canonical = str(uuid.UUID(prompt_id))
    except ValueError:
        canonical = ""
    if canonical != prompt_id:
        raise ValueError(f"prompt_id must be a canonical lowercase UUID like {uuid.uuid4()}, got {prompt_id!r}")
    return prompt_id


def _file_ref(ref: OutputFile | UploadedFile | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(ref, UploadedFile):
        ref = ref.as_ref()
    if isinstance(ref, OutputFile):
        return {"filename": ref.filename, "subfolder": ref.subfolder, "type": str(ref.type)}
    if "filename" not in ref:
        raise ValueError(f"original_ref needs a filename (and subfolder, type), got {dict(ref)!r}")
    return {"filename": ref["filename"], "subfolder": ref.get("subfolder", ""), "type": ref.get("type", "input")}


class ComfyClient:
    """One ComfyUI server, over HTTP (httpx) and its websocket (websockets)."""

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        object_info_cache: ObjectInfoCache | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id or uuid.uuid4().hex
        self.timeout = timeout
        self.object_info_cache = object_info_cache if object_info_cache is not None else ObjectInfoCache()
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- plumbing ---------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        what = f"{method} {self.base_url}{path}"
        try:
            response = await self._http.request(
                method,
                path,
                json=json_body,
                params={k: v for k, v in (params or {}).items() if v is not None},
                files=files,
                data=data,
                timeout=timeout if timeout is not None else self.timeout,
            )
        except (httpx.HTTPError, OSError) as exc:
            raise error_for_exception(exc, what) from exc
        if not response.is_success:
            raise error_for_response(response)
        return response

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise ComfyProtocolError(
                f"{response.request.method} {response.request.url.path}: reply is not JSON: {response.text[:200]!r}"
            ) from exc

    @classmethod
    def _model(cls, response: httpx.Response, model: type[_M]) -> _M:
        body = cls._json(response)
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            raise ComfyProtocolError(
                f"{response.request.method} {response.request.url.path}: reply is not a {model.__name__}: {exc}"
            ) from exc

    # --- prompts and queue ------------------------------------------------------------------

    async def submit_prompt(
        self,
        prompt: Mapping[str, Any],
        *,
        prompt_id: str | None = None,
        extra_data: Mapping[str, Any] | None = None,
        front: bool = False,
        number: float | None = None,
        partial_execution_targets: Iterable[str] | None = None,
    ) -> PromptAccepted:
        """Queue an API-format prompt under this client's id.

        ``prompt_id`` (a canonical UUID) lets the caller correlate before any message arrives.
        Returns :class:`PromptAccepted`; check ``.partial``: some outputs failed validation and will
        not be produced. Raises :class:`ComfyValidationError` if the server refused the whole prompt.
        """
        request = PromptRequest(
            prompt=dict(prompt),
            client_id=self.client_id,
            prompt_id=_canonical_uuid(prompt_id) if prompt_id is not None else None,
            number=number,
            front=True if front else None,
            extra_data=dict(extra_data) if extra_data is not None else None,
            partial_execution_targets=list(partial_execution_targets) if partial_execution_targets else None,
        )
        response = await self._request("POST", "/prompt", json_body=request.to_json())
        accepted = self._model(response, PromptAccepted)
        if prompt_id is not None and accepted.prompt_id != prompt_id:
            # An old server ignores "prompt_id"; the prompt is queued all the same, under its id.
            log.warning("%s queued prompt %s under its own id %s", self.base_url, prompt_id, accepted.prompt_id)
        return accepted

    async def queue(self) -> QueueState:
        """``GET /queue``: the running and pending prompts."""
        return self._model(await self._request("GET", "/queue"), QueueState)

    async def prompt_status(self) -> int:
        """``GET /prompt``: the number of prompts pending plus running (a cheap health probe)."""
        return self._model(await self._request("GET", "/prompt"), PromptInfo).exec_info.queue_remaining

    async def history(
        self, prompt_id: str | None = None, *, max_items: int | None = None, offset: int | None = None
    ) -> dict[str, HistoryEntry]:
        """``GET /history[/{prompt_id}]``: finished prompts by id (empty if ``prompt_id`` is unknown)."""
        path = f"/history/{quote(prompt_id, safe='')}" if prompt_id is not None else "/history"
        response = await self._request("GET", path, params={"max_items": max_items, "offset": offset})
        body = self._json(response)
        if not isinstance(body, dict):
            raise ComfyProtocolError(f"GET {path}: reply is a JSON {type(body).__name__}, not an object")
        try:
            return {pid: HistoryEntry.model_validate(entry) for pid, entry in body.items()}
        except ValidationError as exc:
            raise ComfyProtocolError(f"GET {path}: a history entry does not parse: {exc}") from exc

    async def interrupt(self, prompt_id: str | None = None) -> None:
        """``POST /interrupt``: stop the running prompt (only if it is ``prompt_id``, when given)."""
        await self._request("POST", "/interrupt", json_body={"prompt_id": prompt_id} if prompt_id else {})

    async def delete_from_queue(self, prompt_ids: Iterable[str]) -> None:
        """``POST /queue {"delete": [...]}``: drop pending prompts (a running one is not touched)."""
        await self._request("POST", "/queue", json_body={"delete": list(prompt_ids)})

    async def clear_queue(self) -> None:
        """``POST /queue {"clear": true}``: drop every pending prompt."""
        await self._request("POST", "/queue", json_body={"clear": True})

    async def free(self, *, unload_models: bool = False, free_memory: bool = False) -> None:
        """``POST /free``: unload models and/or free memory once the current prompt is done."""
        await self._request("POST", "/free", json_body={"unload_models": unload_models, "free_memory": free_memory})

    async def reconcile(self, prompt_id: str) -> PromptFate:
        """Where ``prompt_id`` is now: PENDING, RUNNING, DONE (with its history) or LOST.

        Reads ``/queue`` before ``/history`` (see :mod:`orch_common.comfy.reconcile`).
        """
        queue = await self.queue()
        history = await self.history(prompt_id)
        return determine_fate(prompt_id, queue, history)

    async def jobs(self, **filters: Any) -> JobsPage | None:
        """``GET /api/jobs`` with its query filters; None when the server has no jobs API (404).

        ``status`` may be a list (joined with commas); other filters are passed as given.
        """
        status = filters.get("status")
        if status is not None and not isinstance(status, str):
            filters["status"] = ",".join(str(s) for s in status)
        try:
            response = await self._request("GET", "/api/jobs", params=filters)
        except ComfyNotFound:
            return None
        return self._model(response, JobsPage)

    # --- files ------------------------------------------------------------------------------

    async def view(
        self,
        filename: str,
        *,
        subfolder: str = "",
        type: FolderType | str = FolderType.OUTPUT,
        preview: str | None = None,
        channel: str | None = None,
    ) -> ViewResult:
        """``GET /view``: a file's bytes (``preview="webp;90"`` re-encodes, ``channel="a"`` gives alpha)."""
        params = {
            "filename": filename,
            "subfolder": subfolder,
            "type": str(type),
            "preview": preview,
            "channel": channel,
        }
        response = await self._request("GET", "/view", params=params)
        return ViewResult(content=response.content, content_type=response.headers.get("content-type"))

    async def upload_image(
        self,
        data: bytes,
        filename: str,
        *,
        subfolder: str = "",
        type: FolderType | str = FolderType.INPUT,
        overwrite: bool = False,
    ) -> UploadedFile:
        """``POST /upload/image``; the answer names where the file ended up (maybe renamed ``x (1).png``)."""
        fields = {"type": str(type), "subfolder": subfolder, "overwrite": "true" if overwrite else "false"}
        response = await self._request("POST", "/upload/image", files={"image": (filename, data)}, data=fields)
        return self._model(response, UploadedFile)

    async def upload_mask(
        self,
        data: bytes,
        filename: str,
        *,
        original_ref: OutputFile | UploadedFile | Mapping[str, Any],
        subfolder: str = "",
        type: FolderType | str = FolderType.INPUT,
        overwrite: bool = False,
    ) -> UploadedFile:
        """``POST /upload/mask``: put ``data``'s alpha channel into the image ``original_ref`` names."""
        fields = {
            "type": str(type),
            "subfolder": subfolder,
            "overwrite": "true" if overwrite else "false",
            "original_ref": json.dumps(_file_ref(original_ref)),
        }
        response = await self._request("POST", "/upload/mask", files={"image": (filename, data)}, data=fields)
        return self._model(response, UploadedFile)

    # --- server description -----------------------------------------------------------------

    async def object_info(self, node_class: str | None = None) -> dict[str, Any]:
        """``GET /object_info[/{node_class}]`` as raw JSON.

        The whole one goes through the :class:`ObjectInfoCache`: an unchanged body returns the very
        same dict as last time. One class (``{}`` if the server lacks it) is not cached.
        """
        if node_class is not None:
            response = await self._request("GET", f"/object_info/{quote(node_class, safe='')}")
            body = self._json(response)
            if not isinstance(body, dict):
                raise ComfyProtocolError(f"GET /object_info/{node_class}: reply is not a JSON object")
            return body
        response = await self._request("GET", "/object_info", timeout=max(self.timeout, OBJECT_INFO_TIMEOUT))
        try:
            return self.object_info_cache.store(self.base_url, response.content)
        except ValueError as exc:
            raise ComfyProtocolError(f"GET /object_info: reply is not a JSON object: {exc}") from exc

    def object_info_hash(self) -> str:
        """The sha256 of the last whole ``/object_info`` body; raises ``LookupError`` before the first fetch."""
        digest = self.object_info_cache.hash(self.base_url)
        if digest is None:
            raise LookupError(f"object_info of {self.base_url} has not been fetched yet")
        return digest

    async def system_stats(self) -> SystemStats:
        """``GET /system_stats``: versions, RAM, devices."""
        return self._model(await self._request("GET", "/system_stats"), SystemStats)

    async def features(self) -> dict[str, Any]:
        """``GET /features``: the server's feature flags."""
        body = self._json(await self._request("GET", "/features"))
        if not isinstance(body, dict):
            raise ComfyProtocolError("GET /features: reply is not a JSON object")
        return body

    # --- websocket --------------------------------------------------------------------------

    @property
    def ws_url(self) -> str:
        scheme, rest = self.base_url.split("://", 1)
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/ws?clientId={quote(self.client_id, safe='')}"

    async def messages(
        self, *, feature_flags: Mapping[str, Any] | None = DEFAULT_FEATURE_FLAGS
    ) -> AsyncIterator[WsMessage | Frame]:
        """Open the websocket under this client's id and yield what the server sends.

        ``feature_flags`` (unless None) is sent first, as the handshake; with
        ``supports_preview_metadata`` previews arrive as :class:`PreviewImageWithMetadata`.
        Text messages come parsed (``wire.*Message``), binary ones decoded (``binary.*``); unknown
        types and undecodable frames are logged and skipped. The iterator ends when the server closes
        the socket normally and raises :class:`ComfyConnectionError` when it breaks.
        """
        what = f"websocket {self.ws_url}"
        try:
            # no permessage-deflate: the messages are small JSON and JPEG previews; deflating each one cost more CPU
            # on both ends than anything else per message (ComfyUI compresses only when the client offers it)
            async with connect(
                self.ws_url, open_timeout=self.timeout, max_size=None, proxy=None, compression=None
            ) as ws:
                if feature_flags is not None:
                    handshake = {"type": MessageType.FEATURE_FLAGS.value, "data": dict(feature_flags)}
                    with contextlib.suppress(ConnectionClosed):  # closed first: what it sent is still buffered
                        await ws.send(json.dumps(handshake))
                async for raw in ws:
                    item = self._decode(raw)
                    if item is not None:
                        yield item
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise error_for_exception(exc, what) from exc

    @staticmethod
    def _decode(raw: str | bytes) -> WsMessage | Frame | None:
        if isinstance(raw, bytes):
            try:
                frame = decode_frame(raw)
            except ComfyProtocolError as exc:
                log.warning("skipping an undecodable binary frame: %s", exc)
                return None
            if isinstance(frame, UnknownFrame):
                log.info("skipping a binary frame of unknown type %d", frame.event_type)
                return None
            return frame
        message = parse_ws_message(raw)
        if isinstance(message, UnknownMessage):
            return None
        return message
