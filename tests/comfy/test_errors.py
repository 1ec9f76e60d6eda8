"""Foreign failures map into the one ComfyError tree."""

from __future__ import annotations

import httpx
import pytest
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.frames import Close
from websockets.http11 import Response

from orch_common.comfy.errors import (
    ComfyBadRequest,
    ComfyConnectionError,
    ComfyError,
    ComfyHTTPError,
    ComfyNotFound,
    ComfyOriginRejected,
    ComfyProtocolError,
    ComfyServerError,
    ComfyTimeout,
    ComfyValidationError,
    error_for_exception,
    error_for_response,
)

from ._fixtures import load_json

REQUEST = httpx.Request("GET", "http://comfy.test/api/jobs")


def answer(status: int, **kwargs) -> httpx.Response:
    return httpx.Response(status, request=REQUEST, **kwargs)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (answer(400, json={"error": "limit must be a positive integer"}), ComfyBadRequest),
        (answer(400), ComfyBadRequest),
        (answer(400, json={"error": {"no": "type"}, "node_errors": {}}), ComfyBadRequest),
        (answer(400, json=load_json("prompt_error_no_outputs.json")["response"]), ComfyValidationError),
        (answer(403), ComfyOriginRejected),
        (answer(403, text="Forbidden by a proxy"), ComfyHTTPError),
        (answer(404, text="404: Not Found"), ComfyNotFound),
        (answer(409, text="conflict"), ComfyHTTPError),
        (answer(502, text="bad gateway"), ComfyServerError),
    ],
    ids=["400-text", "400-empty", "400-odd-json", "400-validation", "403", "403-with-body", "404", "409", "502"],
)
def test_an_http_status_maps_to_its_error(response, expected):
    error = error_for_response(response)
    assert type(error) is expected
    assert error.status == response.status_code
    assert error.url == "http://comfy.test/api/jobs"
    if expected is not ComfyValidationError:  # that one names the failing node instead
        assert "/api/jobs" in str(error)


def test_a_jobs_error_string_is_in_the_message():
    error = error_for_response(answer(400, json={"error": "limit must be a positive integer"}))
    assert "limit must be a positive integer" in str(error)


def ws_status(status: int) -> InvalidStatus:
    return InvalidStatus(Response(status, "x", Headers()))


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectTimeout("t"), ComfyTimeout),
        (httpx.ReadTimeout("t"), ComfyTimeout),
        (TimeoutError(), ComfyTimeout),
        (httpx.ConnectError("refused"), ComfyConnectionError),
        (httpx.RemoteProtocolError("peer closed"), ComfyConnectionError),
        (ConnectionRefusedError(111, "refused"), ComfyConnectionError),
        (OSError(-2, "Name or service not known"), ComfyConnectionError),
        (ConnectionClosedError(Close(1011, "boom"), None), ComfyConnectionError),
        (ws_status(403), ComfyOriginRejected),
        (ws_status(404), ComfyNotFound),
        (ws_status(500), ComfyServerError),
        (httpx.DecodingError("bad gzip"), ComfyProtocolError),
        (ValueError("not json"), ComfyProtocolError),
        (RuntimeError("odd"), ComfyError),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else v.__name__,
)
def test_a_foreign_exception_maps_to_its_error(exc, expected):
    error = error_for_exception(exc, "GET http://comfy.test/queue")
    assert type(error) is expected
    assert str(error).startswith("GET http://comfy.test/queue")


def test_a_comfy_error_passes_through_unchanged():
    error = ComfyTimeout("already mapped")
    assert error_for_exception(error, "x") is error
