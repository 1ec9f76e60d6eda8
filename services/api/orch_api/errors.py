"""The API's error tree, each mapped to one HTTP status and a stable JSON detail `{"detail": {"code", "message"}}`.

ApiError
├── BadRequest            400  bad_request, not_json, not_object, refused_path, …
├── NotFound              404  unknown job, backend, project, artifact, route
├── Conflict              409  cancelling a finished job, a project version recorded concurrently
├── PayloadTooLarge       413  a body above `max_body_bytes`, an event above NATS max_payload
├── Unprocessable         422  missing fields, unknown node classes, unknown pinned backend, UI conversion …
│   └── NotApiPrompt      422  the workflow is not an API-format prompt
├── NotImplementedYet     501  a route the architecture does not offer (adding a backend without an agent)
├── BadGateway            502  a backend's ComfyUI did not answer the proxy; the scheduler failed a request
└── Unavailable           503  NATS or JetStream does not answer
    └── SchedulerUnavailable   the scheduler does not answer
"""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = [
    "ApiError",
    "BadGateway",
    "BadRequest",
    "Conflict",
    "NotApiPrompt",
    "NotFound",
    "NotImplementedYet",
    "PayloadTooLarge",
    "SchedulerUnavailable",
    "Unavailable",
    "Unprocessable",
    "install_error_handlers",
]


class ApiError(Exception):
    """Base of every error the API answers with; `code` is stable, `message` is for humans."""

    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "internal"

    def __init__(self, message: str, *, code: str | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.extra = extra or {}

    def detail(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}


class BadRequest(ApiError):
    status = 400
    default_code = "bad_request"


class Unprocessable(ApiError):
    status = 422
    default_code = "invalid"


class NotApiPrompt(Unprocessable):
    default_code = "not_api_prompt"


class NotFound(ApiError):
    status = 404
    default_code = "not_found"


class Conflict(ApiError):
    status = 409
    default_code = "conflict"


class PayloadTooLarge(ApiError):
    status = 413
    default_code = "payload_too_large"


class NotImplementedYet(ApiError):
    status = 501
    default_code = "not_implemented"


class BadGateway(ApiError):
    status = 502
    default_code = "bad_gateway"


class Unavailable(ApiError):
    status = 503
    default_code = "unavailable"


class SchedulerUnavailable(Unavailable):
    default_code = "scheduler_unavailable"


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse({"detail": exc.detail()}, status_code=exc.status)


async def _handle_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    parts = [f"`{'.'.join(str(p) for p in e.get('loc', ())) or 'request'}`: {e.get('msg', 'invalid')}" for e in errors]
    detail = {"code": "invalid_request", "message": "; ".join(parts[:20]) or "invalid request"}
    return JSONResponse({"detail": detail}, status_code=422)


async def _handle_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, f"http_{exc.status_code}")
    return JSONResponse(
        {"detail": {"code": code, "message": str(exc.detail)}}, status_code=exc.status_code, headers=exc.headers
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer every `ApiError`, request validation error and HTTP error with a stable `{code, message}` detail."""
    app.add_exception_handler(ApiError, _handle)
    app.add_exception_handler(RequestValidationError, _handle_validation)
    app.add_exception_handler(StarletteHTTPException, _handle_http)
