"""An httpx MockTransport that answers like the recorded ComfyUI, and records what it was sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from ._fixtures import FIXTURES, load_json

Handler = Callable[[httpx.Request], httpx.Response]


def json_response(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


@dataclass
class RecordedServer:
    """Routes ``(method, path)`` to canned responses; unrouted requests get 404 like aiohttp."""

    routes: dict[tuple[str, str], Handler | httpx.Response] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def on(self, method: str, path: str, answer: Handler | httpx.Response | Any) -> RecordedServer:
        if not isinstance(answer, httpx.Response) and not callable(answer):
            answer = json_response(answer)
        self.routes[(method, path)] = answer
        return self

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.routes.get((request.method, request.url.path))
        if answer is None:
            return httpx.Response(404, text="404: Not Found")
        if isinstance(answer, httpx.Response):
            return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)
        return answer(request)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def last_json(self) -> Any:
        return json.loads(self.requests[-1].content)


def recorded_prompt_answer(name: str) -> httpx.Response:
    """The recorded answer of a ``prompt_*`` fixture, with its status and content type."""
    body = load_json(name)
    if isinstance(body["response"], str):
        return httpx.Response(body["status"], text=body["response"], headers={"content-type": body["content_type"]})
    return httpx.Response(body["status"], json=body["response"])


def recorded_view(name: str) -> httpx.Response:
    (meta,) = load_json(f"{name}.headers.json")[:1]
    return httpx.Response(meta["status"], content=(FIXTURES / meta["saved_as"]).read_bytes(), headers=meta["headers"])
