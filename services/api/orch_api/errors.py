"""The API's error tree, each mapped to one HTTP status and a stable JSON detail `{"detail": {"code", "message"}}`.

ApiError
├── BadRequest            400  bad_request, not_json, …
│   └── NotApiPrompt      422  the workflow is not an API-format prompt
├── Unprocessable         422  missing fields, unknown node classes, unknown pinned backend, UI format …
├── NotFound              404  unknown job, backend, project, artifact
├── Conflict              409  cancelling a finished job, a project version saved concurrently
├── PayloadTooLarge       413  a body above `max_body_bytes`
├── BadGateway            502  a backend's ComfyUI did not answer the proxy
└── Unavailable           503  NATS or the scheduler does not answer
    └── SchedulerUnavailable
"""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

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


def install_error_handlers(app: FastAPI) -> None:
    """Answer every `ApiError` with its status and stable detail."""
    app.add_exception_handler(ApiError, _handle)
