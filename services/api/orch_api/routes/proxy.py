"""The ComfyUI editor proxy: `/backends/{id}/comfy/{path}` (HTTP, any method, streamed) and its websocket.

It forwards only to the `comfy_url` a backend registered (never to a URL taken from the request: this is not
an open relay). Hop-by-hop headers are stripped both ways; `Host` becomes the backend's and a browser `Origin`
is rewritten to the backend's own origin, because ComfyUI answers 403 to a loopback `Host` whose `Origin`
differs. The editor uses relative URLs, so `/backends/{id}/comfy/` serves its index, assets and `api/...`.
"""

from __future__ import annotations

import contextlib
import logging

import httpx
from fastapi import APIRouter, Depends, Request, WebSocket
from fastapi.responses import RedirectResponse, StreamingResponse
from starlette.background import BackgroundTask
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from orch_api.context import ApiContext, first_to_finish, get_ctx, path_id
from orch_api.errors import ApiError, BadGateway, BadRequest, NotFound
from orch_api.registry import read_registrations, scheduler_backends

__all__ = ["HOP_BY_HOP", "router", "target_url"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["proxy"], include_in_schema=False)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_WS_MAX_FRAME = 64 * 1024 * 1024


async def comfy_base(ctx: ApiContext, backend_id: str) -> httpx.URL:
    """The registered `comfy_url` of `backend_id`; 404 for an id no agent registered."""
    path_id(backend_id, "backend")
    record = (await read_registrations(ctx.bus)).get(backend_id)
    url = record.comfy_url if record is not None else None
    if url is None:
        with contextlib.suppress(ApiError):
            url = next((v.comfy_url for v in await scheduler_backends(ctx.bus) if v.id == backend_id), None)
    if not url:
        raise NotFound(f"no backend {backend_id!r} is registered", code="unknown_backend")
    return httpx.URL(url)


def target_url(base: httpx.URL, path: str, query: bytes, raw_path: bytes | None = None) -> httpx.URL:
    """`path` under `base`; refuses anything that could leave the backend (schemes, `//`, `..`, backslashes).

    `raw_path` is the request's still-encoded path: when given, what follows `/backends/<id>/comfy/` is forwarded
    as the client encoded it (ComfyUI tells `workflows%2Fa.json` from `workflows/a.json`).
    """
    segments = path.split("/")
    if "://" in path or path.startswith("/") or "\\" in path or ".." in segments:
        raise BadRequest(
            f"refused path {path!r}: the proxy only forwards paths of the backend's ComfyUI", code="refused_path"
        )
    prefix = base.raw_path.split(b"?", 1)[0].rstrip(b"/")
    parts = (raw_path or b"").split(b"?", 1)[0].split(b"/", 4)  # b"", b"backends", id, b"comfy", rest
    rest = parts[4] if len(parts) == 5 and parts[1] == b"backends" and parts[3] == b"comfy" else None
    if rest is None:
        return base.copy_with(path=f"{prefix.decode()}/{path}", query=query or None)
    return base.copy_with(raw_path=prefix + b"/" + rest + (b"?" + query if query else b""))


def _origin(url: httpx.URL) -> str:
    default = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(url.scheme)
    port = f":{url.port}" if url.port and url.port != default else ""
    return f"{url.scheme}://{url.host}{port}"


def _drop(headers: list[tuple[str, str]]) -> set[str]:
    named = {t.strip().lower() for k, v in headers if k.lower() == "connection" for t in v.split(",")}
    return set(HOP_BY_HOP) | named


def _request_headers(request: Request, target: httpx.URL) -> list[tuple[str, str]]:
    items = [(k, v) for k, v in request.headers.items()]
    drop = _drop(items) | {"host", "referer", "cookie"}
    out = [(k, v) for k, v in items if k.lower() not in drop]
    return [(k, _origin(target)) if k.lower() == "origin" else (k, v) for k, v in out]


def _response_headers(upstream: httpx.Response, base: httpx.URL, prefix: str) -> list[tuple[bytes, bytes]]:
    items = list(upstream.headers.multi_items())
    drop = _drop(items)
    out: list[tuple[bytes, bytes]] = []
    for key, value in items:
        if key.lower() in drop:
            continue
        if key.lower() == "location":
            origin = _origin(base)
            if value.startswith(origin):
                value = value[len(origin) :] or "/"
            if value.startswith("/"):
                value = prefix + value[len(base.path.rstrip("/")) :]
        out.append((key.lower().encode("latin-1"), value.encode("latin-1")))
    return out


@router.api_route("/backends/{backend_id}/comfy", methods=_METHODS)
async def comfy_root(backend_id: str, ctx: ApiContext = Depends(get_ctx)) -> RedirectResponse:
    await comfy_base(ctx, backend_id)
    return RedirectResponse(f"/backends/{backend_id}/comfy/", status_code=307)


@router.api_route("/backends/{backend_id}/comfy/{path:path}", methods=_METHODS)
async def comfy_http(
    backend_id: str, path: str, request: Request, ctx: ApiContext = Depends(get_ctx)
) -> StreamingResponse:
    base = await comfy_base(ctx, backend_id)
    target = target_url(base, path, request.url.query.encode(), request.scope.get("raw_path"))
    has_body = request.method not in ("GET", "HEAD", "OPTIONS") or "content-length" in request.headers
    outgoing = ctx.proxy_http.build_request(
        request.method,
        target,
        headers=_request_headers(request, target),
        content=request.stream() if has_body else None,
    )
    try:
        upstream = await ctx.proxy_http.send(outgoing, stream=True)
    except httpx.HTTPError as exc:
        raise BadGateway(f"backend {backend_id!r} ({_origin(base)}) did not answer: {exc!r}") from None
    response = StreamingResponse(
        upstream.aiter_raw(), status_code=upstream.status_code, background=BackgroundTask(upstream.aclose)
    )
    response.raw_headers = _response_headers(upstream, base, f"/backends/{backend_id}/comfy")
    return response


@router.websocket("/backends/{backend_id}/comfy/{path:path}")
async def comfy_websocket(websocket: WebSocket, backend_id: str, path: str) -> None:
    ctx = get_ctx(websocket)
    try:
        base = await comfy_base(ctx, backend_id)
        target = target_url(base, path, websocket.url.query.encode(), websocket.scope.get("raw_path"))
    except ApiError as exc:
        await websocket.close(code=4404 if exc.status == 404 else 4400, reason=exc.message[:120])
        return
    ws_url = str(target.copy_with(scheme="wss" if target.scheme == "https" else "ws"))
    try:
        upstream = await connect(ws_url, max_size=_WS_MAX_FRAME, open_timeout=10)
    except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
        log.info("proxy websocket to %s failed: %r", ws_url, exc)
        await websocket.close(code=1011, reason="the backend's websocket did not open")
        return
    await websocket.accept()
    async with upstream:
        await _relay(websocket, upstream)


async def _relay(websocket: WebSocket, upstream: ClientConnection) -> None:
    async def browser_to_backend() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await upstream.send(message["text"])
            elif message.get("bytes") is not None:
                await upstream.send(message["bytes"])

    async def backend_to_browser() -> None:
        with contextlib.suppress(ConnectionClosed):
            async for data in upstream:
                if isinstance(data, str):
                    await websocket.send_text(data)
                else:
                    await websocket.send_bytes(data)
        with contextlib.suppress(Exception):
            await websocket.close()

    await first_to_finish(browser_to_backend(), backend_to_browser())
