"""The ComfyUI routes the agent calls for every job, over :class:`orch_agent.fasthttp.FastHttp`.

::

    hot = HotComfy(comfy)                      # comfy: the agent's ComfyClient (cold routes, websocket)
    accepted = await hot.submit_prompt(prompt, prompt_id=pid, extra_data=extra)
    view = await hot.view("out.png", subfolder="", type="temp")
    size = await hot.file_size("orch_x.png")   # HEAD /view?type=input; None: no such file

Replies and failures are the same as :class:`orch_common.comfy.client.ComfyClient`'s: wire models, and
``ComfyError`` subclasses built by :mod:`orch_common.comfy.errors` (a failed reply becomes an ``httpx.Response``
for that module to read, so a refused prompt is the same ``ComfyValidationError``). With an ``https://`` server,
or when asked to (``fast=False``, e.g. a client with a test transport), every call goes through the ComfyClient.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from pydantic import ValidationError

from orch_agent.fasthttp import FastHttp, HttpReply
from orch_common.comfy.client import ComfyClient, ViewResult
from orch_common.comfy.errors import (
    ComfyError,
    ComfyNotFound,
    ComfyProtocolError,
    error_for_exception,
    error_for_response,
)
from orch_common.comfy.wire import FolderType, HistoryEntry, PromptAccepted, SystemStats, UploadedFile

__all__ = ["HotComfy"]

_FORM_BOUNDARY = "----orch-agent-" + uuid.uuid4().hex


class HotComfy:
    """`POST /prompt`, `GET /view`, `GET /history/{id}`, `POST /upload/image`, `HEAD /view` and `GET /system_stats`,
    made cheap."""

    def __init__(self, comfy: ComfyClient, *, fast: bool = True) -> None:
        self.comfy = comfy
        self.base_url = comfy.base_url
        self._no_head = False  # the server answered HEAD with 405
        self._http = (
            FastHttp(comfy.base_url, timeout=comfy.timeout) if fast and comfy.base_url.startswith("http://") else None
        )

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def _call(
        self,
        method: str,
        target: str,
        body: bytes | AsyncIterable[bytes] = b"",
        content_type: str | None = None,
        *,
        content_length: int | None = None,
        status_only: bool = False,
    ) -> HttpReply:
        assert self._http is not None
        try:
            reply = await self._http.request(
                method,
                target,
                body,
                content_length=content_length,
                content_type=content_type,
                status_only=status_only,
            )
        except (OSError, TimeoutError, ValueError) as exc:
            raise error_for_exception(exc, f"{method} {self.base_url}{target}") from exc
        if not reply.is_success:
            response = httpx.Response(
                reply.status,
                headers=reply.headers,
                content=reply.body,
                request=httpx.Request(method, f"{self.base_url}{target}"),
            )
            raise error_for_response(response)
        return reply

    async def submit_prompt(
        self, prompt: Mapping[str, Any], *, prompt_id: str, extra_data: Mapping[str, Any] | None = None
    ) -> PromptAccepted:
        """Queue `prompt` under this agent's client id as `prompt_id` (a canonical UUID, else ValueError)."""
        if self._http is None:
            return await self.comfy.submit_prompt(prompt, prompt_id=prompt_id, extra_data=extra_data)
        try:
            canonical = str(uuid.UUID(prompt_id)) == prompt_id
        except ValueError:
            canonical = False
        if not canonical:
            raise ValueError(f"prompt_id must be a canonical lowercase UUID like {uuid.uuid4()}, got {prompt_id!r}")
        request: dict[str, Any] = {"prompt": prompt, "client_id": self.comfy.client_id, "prompt_id": prompt_id}
        if extra_data is not None:
            request["extra_data"] = extra_data
        body = json.dumps(request, separators=(",", ":")).encode()
        reply = await self._call("POST", "/prompt", body, "application/json")
        try:
            return PromptAccepted.model_validate_json(reply.body)
        except ValidationError as exc:
            raise ComfyProtocolError(f"POST /prompt: reply is not a PromptAccepted: {exc}") from exc

    async def view(
        self, filename: str, *, subfolder: str = "", type: FolderType | str = FolderType.OUTPUT
    ) -> ViewResult:
        """A file's bytes (``GET /view``)."""
        if self._http is None:
            return await self.comfy.view(filename, subfolder=subfolder, type=type)
        query = urlencode({"filename": filename, "subfolder": subfolder, "type": str(type)})
        reply = await self._call("GET", f"/view?{query}")
        return ViewResult(content=reply.body, content_type=reply.headers.get("content-type"))

    async def file_size(
        self, filename: str, *, subfolder: str = "", type: FolderType | str = FolderType.INPUT
    ) -> int | None:
        """The size of a file the server has (``HEAD /view``), -1 when it does not say, None when it has no such
        file. A server refusing HEAD (`orch sim` does) is asked with a GET whose body is not read."""
        if self._http is None:
            try:
                return len((await self.comfy.view(filename, subfolder=subfolder, type=type)).content)
            except ComfyNotFound:
                return None
        query = urlencode({"filename": filename, "subfolder": subfolder, "type": str(type)})
        for method in ("GET",) if self._no_head else ("HEAD", "GET"):
            try:
                reply = await self._call(method, f"/view?{query}", status_only=method == "GET")
            except ComfyNotFound:
                return None
            except ComfyError as exc:
                if method == "HEAD" and getattr(exc, "status", None) == 405:
                    self._no_head = True
                    continue
                raise
            length = reply.headers.get("content-length", "")
            return int(length) if length.isdigit() else -1
        return None

    async def history(self, prompt_id: str) -> dict[str, HistoryEntry]:
        """``GET /history/{prompt_id}``: empty when the server does not know the prompt (yet)."""
        if self._http is None:
            return await self.comfy.history(prompt_id)
        target = f"/history/{quote(prompt_id, safe='')}"
        reply = await self._call("GET", target)
        try:
            body = json.loads(reply.body)
        except ValueError as exc:
            raise ComfyProtocolError(f"GET {target}: reply is not JSON: {reply.body[:200]!r}") from exc
        if not isinstance(body, dict):
            raise ComfyProtocolError(f"GET {target}: reply is a JSON {type(body).__name__}, not an object")
        try:
            return {pid: HistoryEntry.model_validate(entry) for pid, entry in body.items()}
        except ValidationError as exc:
            raise ComfyProtocolError(f"GET {target}: a history entry does not parse: {exc}") from exc

    async def system_stats(self) -> SystemStats:
        """``GET /system_stats`` (read every second for the metrics)."""
        if self._http is None:
            return await self.comfy.system_stats()
        reply = await self._call("GET", "/system_stats")
        try:
            return SystemStats.model_validate_json(reply.body)
        except ValidationError as exc:
            raise ComfyProtocolError(f"GET /system_stats: reply is not a SystemStats: {exc}") from exc

    @property
    def streams_uploads(self) -> bool:
        """Whether `upload_image` takes the bytes as an async iterable of parts (sent as they come)."""
        return self._http is not None

    async def upload_image(
        self, data: bytes | AsyncIterable[bytes], filename: str, *, size: int | None = None
    ) -> UploadedFile:
        """``POST /upload/image`` to the input folder, without overwrite (the same bytes under the same name are
        reused by the server; other bytes get a new name, which the answer gives).

        `data` may be parts still arriving (only when `streams_uploads`), `size` bytes in all; an error they raise
        abandons the upload unfinished, so the server keeps nothing, and is raised here."""
        if self._http is None:
            if not isinstance(data, bytes):
                raise TypeError("this client uploads bytes only (streams_uploads is False)")
            return await self.comfy.upload_image(data, filename)
        quoted = filename.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
        head = b"".join(
            [
                _form_field("type", "input"),
                _form_field("subfolder", ""),
                _form_field("overwrite", "false"),
                (
                    f'--{_FORM_BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="{quoted}"\r\n'
                    "Content-Type: application/octet-stream\r\n\r\n"
                ).encode(),
            ]
        )
        tail = f"\r\n--{_FORM_BOUNDARY}--\r\n".encode()
        content_type = f"multipart/form-data; boundary={_FORM_BOUNDARY}"
        if isinstance(data, bytes):
            reply = await self._call("POST", "/upload/image", b"".join([head, data, tail]), content_type)
        else:
            if size is None:
                raise ValueError("uploading parts needs their total size")
            reply = await self._call(
                "POST",
                "/upload/image",
                _framed(head, data, tail),
                content_type,
                content_length=len(head) + size + len(tail),
            )
        try:
            return UploadedFile.model_validate_json(reply.body)
        except ValidationError as exc:
            raise ComfyProtocolError(f"POST /upload/image: reply is not an UploadedFile: {exc}") from exc


async def _framed(head: bytes, parts: AsyncIterable[bytes], tail: bytes) -> AsyncIterator[bytes]:
    yield head
    async for part in parts:
        yield part
    yield tail


def _form_field(name: str, value: str) -> bytes:
    return f'--{_FORM_BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
