"""The errors of talking to a ComfyUI server.

::

    ComfyError
    ├── ComfyConnectionError      the server could not be reached (refused, DNS, reset, socket closed)
    ├── ComfyTimeout              no answer in time (connect, read, or the websocket handshake)
    ├── ComfyProtocolError        a reply that does not parse as what the protocol promises
    ├── ComfyPromptLost           the server no longer knows a prompt (not queued, running or in history)
    └── ComfyHTTPError            an HTTP status we do not treat as success (``.status``, ``.body``)
        ├── ComfyBadRequest       400 without a validation body (upload without file, bad /view path, bad jobs query)
        │   └── ComfyValidationError   400 from POST /prompt: ``.error`` and ``.node_errors``
        ├── ComfyOriginRejected   403 from ComfyUI's Origin check (empty body; Origin host ≠ Host)
        ├── ComfyNotFound         404
        └── ComfyServerError      5xx, with the server's text body

A 200 from ``POST /prompt`` with non-empty ``node_errors`` is not an error: it is a ``PromptAccepted``
whose ``partial`` is true (some outputs will not be produced).

Foreign errors (httpx, websockets, OSError, HTTP statuses) are mapped into this tree in one place:
:func:`error_for_response` for HTTP replies and :func:`error_for_exception` for everything raised.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from pydantic import ValidationError
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from orch_common.comfy.wire import ErrorDetail, NodeError, ValidationErrorBody

__all__ = [
    "ComfyBadRequest",
    "ComfyConnectionError",
    "ComfyError",
    "ComfyHTTPError",
    "ComfyNotFound",
    "ComfyOriginRejected",
    "ComfyPromptLost",
    "ComfyProtocolError",
    "ComfyServerError",
    "ComfyTimeout",
    "ComfyValidationError",
    "error_for_exception",
    "error_for_response",
]


class ComfyError(Exception):
    """Base of every error raised by the ComfyUI client."""


class ComfyConnectionError(ComfyError):
    """The server could not be reached, or the connection broke."""


class ComfyTimeout(ComfyError):
    """The server did not answer in time."""


class ComfyProtocolError(ComfyError):
    """The server answered with something the protocol does not allow."""


class ComfyPromptLost(ComfyError):
    """The server no longer knows the prompt: not queued, not running, not in history."""

    def __init__(self, prompt_id: str) -> None:
        super().__init__(f"prompt {prompt_id} is unknown to the server (not queued, running or in history)")
        self.prompt_id = prompt_id


class ComfyHTTPError(ComfyError):
    """An HTTP reply with a status we do not treat as success."""

    def __init__(self, message: str, *, status: int, body: str = "", url: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.url = url


class ComfyBadRequest(ComfyHTTPError):
    """400 without a validation body."""


class ComfyValidationError(ComfyBadRequest):
    """``POST /prompt`` refused the prompt (400); the message names the first failing node and input."""

    def __init__(
        self,
        error: ErrorDetail,
        node_errors: dict[str, NodeError],
        *,
        status: int = 400,
        body: str = "",
        url: str = "",
    ) -> None:
        super().__init__(_describe_validation(error, node_errors), status=status, body=body, url=url)
        self.error = error
        self.node_errors = node_errors

    @property
    def error_type(self) -> str:
        """The top-level error type, e.g. ``prompt_outputs_failed_validation`` or ``invalid_prompt``."""
        return self.error.type

    def node_error_types(self) -> dict[str, list[str]]:
        """For each failing node, the types of its input errors (``value_not_in_list``, ...)."""
        return {node_id: [e.type for e in ne.errors] for node_id, ne in self.node_errors.items()}


class ComfyOriginRejected(ComfyHTTPError):
    """403 from ComfyUI's Origin check: an ``Origin`` header whose host differs from ``Host``."""


class ComfyNotFound(ComfyHTTPError):
    """404: no such file, job or route."""


class ComfyServerError(ComfyHTTPError):
    """5xx: the server failed; ``body`` holds its text (e.g. "Server got itself in trouble")."""


_DETAILS_SHOWN = 300
"""Characters of a node error's details kept in the message (a COMBO's details list every choice)."""


def _describe_validation(error: ErrorDetail, node_errors: dict[str, NodeError]) -> str:
    """``<type>: <message> (<details>); node <id> (<class>) input '<name>': <type>: <message> (<details>)``.

    A node error's details say what is wrong ("image - Invalid image file: cat.png", "ckpt_name: 'x' not in
    [...]"); they are left out only when they just repeat the input's name."""
    head = f"{error.type}: {error.message}"
    if error.details:
        head += f" ({error.details})"
    first = next(((nid, ne, item) for nid, ne in node_errors.items() for item in ne.errors), None)
    if first is None:
        return head
    node_id, node_error, item = first
    where = f"node {node_id} ({node_error.class_type})"
    input_name = item.extra_info.get("input_name")
    if input_name:
        where += f" input {input_name!r}"
    what = f"{item.type}: {item.message}"
    details = item.details.strip()
    if details and details != input_name:
        what += f" ({details if len(details) <= _DETAILS_SHOWN else details[: _DETAILS_SHOWN - 1] + '…'})"
    more = f" (and {len(node_errors) - 1} more failing node(s))" if len(node_errors) > 1 else ""
    return f"{head}; {where}: {what}{more}"


def _body_text(response: httpx.Response) -> str:
    try:
        return response.text
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        return ""


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def error_for_response(response: httpx.Response) -> ComfyHTTPError:
    """The error for a non-success HTTP reply (the response body must have been read)."""
    status = response.status_code
    body = _body_text(response)
    try:
        request: httpx.Request | None = response.request
    except RuntimeError:
        request = None
    url = str(request.url) if request is not None else ""
    path = request.url.path if request is not None else ""
    what = f"{request.method} {path}" if request is not None else "request"
    parsed = _json_or_none(body) if body else None
    if status == 400:
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            try:
                validation = ValidationErrorBody.model_validate(parsed)
            except ValidationError:
                pass
            else:
                return ComfyValidationError(validation.error, validation.node_errors, status=status, body=body, url=url)
        detail = parsed["error"] if isinstance(parsed, dict) and isinstance(parsed.get("error"), str) else body
        return ComfyBadRequest(f"{what} was refused (400): {detail or 'no detail'}", status=status, body=body, url=url)
    if status == 403 and not body and not path.endswith("/view"):
        return ComfyOriginRejected(
            f"{what} was refused by the server's Origin check (403); send no Origin header, or one whose "
            "host matches the Host, or start ComfyUI with --enable-cors-header",
            status=status,
            body=body,
            url=url,
        )
    if status == 404:
        return ComfyNotFound(f"{what}: not found (404)", status=status, body=body, url=url)
    if status >= 500:
        return ComfyServerError(
            f"{what} failed on the server ({status}): {body.strip()[:500]}", status=status, body=body, url=url
        )
    return ComfyHTTPError(f"{what} answered {status}: {body.strip()[:500]}", status=status, body=body, url=url)


def _error_for_status(status: int, what: str, url: str) -> ComfyHTTPError:
    """The error for a websocket upgrade refused with an HTTP status (no body to look at)."""
    if status == 403:
        return ComfyOriginRejected(f"{what}: refused by the server's Origin check (403)", status=status, url=url)
    if status == 404:
        return ComfyNotFound(f"{what}: not found (404)", status=status, url=url)
    if status >= 500:
        return ComfyServerError(f"{what}: failed on the server ({status})", status=status, url=url)
    return ComfyHTTPError(f"{what}: the server answered {status}", status=status, url=url)


def error_for_exception(exc: BaseException, what: str) -> ComfyError:
    """The error for a failure raised while doing ``what`` (e.g. ``"GET http://h/queue"``)."""
    if isinstance(exc, ComfyError):
        return exc
    if isinstance(exc, httpx.TimeoutException | asyncio.TimeoutError | TimeoutError):
        return ComfyTimeout(f"{what}: timed out ({type(exc).__name__})")
    if isinstance(exc, InvalidStatus):
        return _error_for_status(exc.response.status_code, what, "")
    if isinstance(exc, InvalidURI):
        return ComfyConnectionError(f"{what}: not a websocket URL: {exc}")
    if isinstance(exc, InvalidHandshake):
        return ComfyProtocolError(f"{what}: websocket handshake failed: {exc}")
    if isinstance(exc, ConnectionClosed):
        return ComfyConnectionError(f"{what}: the websocket closed: {exc}")
    if isinstance(exc, httpx.DecodingError):
        return ComfyProtocolError(f"{what}: the reply body cannot be decoded: {exc}")
    if isinstance(exc, httpx.TransportError | OSError):
        return ComfyConnectionError(f"{what}: cannot reach the server: {exc or type(exc).__name__}")
    if isinstance(exc, ValueError):
        return ComfyProtocolError(f"{what}: unexpected reply: {exc}")
    return ComfyError(f"{what}: {type(exc).__name__}: {exc}")
