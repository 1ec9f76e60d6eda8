"""`orch_agent.fasthttp` against real sockets: a scripted HTTP server for the reply framings ComfyUI's aiohttp and
the sim's uvicorn use, and `HotComfy` against a real `orch sim`."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from orch_agent.comfy_fast import HotComfy
from orch_agent.fasthttp import FastHttp, HttpProtocolError
from orch_common.comfy.client import ComfyClient
from orch_common.comfy.errors import ComfyConnectionError, ComfyNotFound, ComfyValidationError
from tests.helpers import FIXTURES
from tests.helpers.sim import start_sim
from tests.helpers.workflows import basic

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]

Reply = Callable[[bytes], bytes | None]  # request head+body → raw reply (None: close without answering)


@asynccontextmanager
async def scripted_server(reply: Reply) -> AsyncIterator[tuple[str, list[int]]]:
    """An HTTP server answering each request with `reply(request)`; yields its URL and the connections it accepted."""
    connections: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(len(connections) + 1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                answer = reply(head + body)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if b"connection: close" in answer.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", connections
    finally:
        server.close()
        await server.wait_closed()


async def test_content_length_replies_reuse_one_connection() -> None:
    def reply(request: bytes) -> bytes:
        path = request.split(b" ")[1]
        return b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (len(path), path)

    async with scripted_server(reply) as (url, connections):
        http = FastHttp(url)
        try:
            for i in range(5):
                answer = await http.request("GET", f"/x/{i}")
                assert answer.status == 200 and answer.body == f"/x/{i}".encode()
                assert answer.headers["content-type"] == "text/plain"
        finally:
            await http.aclose()
        assert len(connections) == 1


async def test_chunked_and_close_delimited_bodies_are_read_whole() -> None:
    big = b"z" * 300_000

    def reply(request: bytes) -> bytes:
        if b"/chunked" in request:
            chunks = [b"hello ", b"", b"world" * 1000]
            framed = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) for c in chunks if c)
            return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + framed + b"0\r\nX-Trailer: 1\r\n\r\n"
        return b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + big

    async with scripted_server(reply) as (url, connections):
        http = FastHttp(url)
        try:
            chunked = await http.request("GET", "/chunked")
            assert chunked.body == b"hello " + b"world" * 1000
            closed = await http.request("GET", "/until-close")
            assert closed.body == big
            again = await http.request("GET", "/chunked")
            assert again.body == chunked.body
        finally:
            await http.aclose()
        assert len(connections) == 2, "the close-delimited reply used up its connection"


async def test_a_server_that_hangs_up_mid_reply_is_a_connection_error_and_garbage_a_protocol_error() -> None:
    def reply(request: bytes) -> bytes | None:
        if b"/garbage" in request:
            return b"SPDY/9 what\r\n\r\n"
        return None

    async with scripted_server(reply) as (url, _):
        http = FastHttp(url)
        try:
            with pytest.raises(ConnectionError):
                await http.request("GET", "/hang-up")
            with pytest.raises(HttpProtocolError, match=r"not an HTTP/1\.x status line"):
                await http.request("GET", "/garbage")
        finally:
            await http.aclose()


async def test_a_status_only_request_hangs_up_after_the_head_and_the_next_one_connects_again() -> None:
    def reply(request: bytes) -> bytes:
        body = b"x" * 2_000_000 if b"/big" in request else b"small"
        return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    async with scripted_server(reply) as (url, connections):
        http = FastHttp(url)
        try:
            head = await http.request("GET", "/big", status_only=True)
            assert head.status == 200 and head.body == b"" and head.headers["content-length"] == "2000000"
            assert (await http.request("GET", "/small")).body == b"small"
        finally:
            await http.aclose()
        assert len(connections) == 2


async def test_requests_carry_the_urls_host_and_path_prefix() -> None:
    def reply(request: bytes) -> bytes:
        line, *headers = request.split(b"\r\n\r\n")[0].split(b"\r\n")
        host = next(h.split(b":", 1)[1].strip() for h in headers if h.lower().startswith(b"host:"))
        body = line + b" | " + host
        return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    async with scripted_server(reply) as (url, _):
        http = FastHttp(url + "/comfy/")
        try:
            answer = await http.request("GET", "/view?filename=a%20b.png")
        finally:
            await http.aclose()
    port = url.rsplit(":", 1)[1]
    assert answer.body.decode() == f"GET /comfy/view?filename=a%20b.png HTTP/1.1 | 127.0.0.1:{port}"


async def test_only_plain_http_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="only plain http"):
        FastHttp("https://comfy.example")


async def test_hot_routes_answer_like_the_comfy_client_on_a_real_sim(tmp_path: Path) -> None:
    source = (FIXTURES / "upload_source.png").read_bytes()
    with start_sim(tmp_path) as sim:
        comfy = ComfyClient(sim.url)
        hot = HotComfy(comfy)
        try:
            uploaded = await hot.upload_image(source, 'we"ird name.png')
            assert uploaded == await comfy.upload_image(source, 'we"ird name.png'), "same file, reused"
            assert await hot.file_size(uploaded.name) == len(source)
            assert await hot.file_size("never-uploaded.png") is None
            assert (await hot.view(uploaded.name, type="input")).content == source
            prompt_id = str(uuid.uuid4())
            accepted = await hot.submit_prompt(basic("hot"), prompt_id=prompt_id, extra_data={"k": 1})
            assert accepted.prompt_id == prompt_id and not accepted.partial
            for _ in range(100):
                if (history := await hot.history(prompt_id)) and history[prompt_id].succeeded:
                    break
                await asyncio.sleep(0.1)
            assert history == await comfy.history(prompt_id)
            invalid = basic("hot")
            invalid["2"]["inputs"]["blur_radius"] = 999
            with pytest.raises(ComfyValidationError) as refused:
                await hot.submit_prompt(invalid, prompt_id=str(uuid.uuid4()))
            assert "2" in refused.value.node_errors
            with pytest.raises(ValueError, match="canonical lowercase UUID"):
                await hot.submit_prompt(basic("hot"), prompt_id="not-a-uuid")
            with pytest.raises(ComfyNotFound):
                await hot.view("missing.png")
            assert json.loads(json.dumps(await hot.history(str(uuid.uuid4())))) == {}
        finally:
            await hot.aclose()
            await comfy.aclose()
    gone = HotComfy(ComfyClient(sim.url))
    with pytest.raises(ComfyConnectionError):
        await gone.history(str(uuid.uuid4()))
    await gone.aclose()
