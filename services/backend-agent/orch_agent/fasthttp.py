"""A small HTTP/1.1 client for the agent's hot path to its one ComfyUI: keep-alive connections, nothing else.

::

    http = FastHttp("http://127.0.0.1:8188", timeout=30.0)
    reply = await http.request("POST", "/prompt", body, content_type="application/json")
    reply.status, reply.headers["content-type"], reply.body
    await http.aclose()

httpx spends about a millisecond of CPU per request on URL parsing, its transport layers and anyio; the agent makes
three to four requests per job, on one core shared with everything else. This client writes the request in one
`write` and parses the reply (`Content-Length`, chunked, or until the connection closes) straight from the
protocol's buffer. It speaks only plain `http://` (an `https://` ComfyUI goes through httpx instead: see
:mod:`orch_agent.comfy_fast`).

Errors::

    OSError                         cannot connect, or the connection broke before the whole reply arrived
    └── ConnectionError             the server closed it mid-request or mid-reply
    TimeoutError                    no whole reply within the timeout
    ValueError                      a streamed body was not as long as announced
    └── HttpProtocolError           the reply is not HTTP/1.x as we know it
    (anything a streamed body raises, raised as it is, the request abandoned)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

__all__ = ["FastHttp", "HttpProtocolError", "HttpReply"]

_MAX_IDLE = 8
_MAX_HEAD = 64 * 1024


class HttpProtocolError(ValueError):
    """The server's reply does not parse as HTTP/1.x."""


@dataclass(frozen=True)
class HttpReply:
    """One whole reply: status, headers (names lower-cased, last one wins) and the body."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300


class _Connection(asyncio.Protocol):
    """One keep-alive connection; carries one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._buffer = bytearray()
        self._reply: asyncio.Future[HttpReply] | None = None
        self._head_request = False
        self._status_only = False
        self._status = 0
        self._headers: dict[str, str] | None = None
        self._keep_alive = True
        self._length: int | None = None  # body bytes expected; None: chunked or until close
        self._chunked = False
        self._body = bytearray()
        self._chunk_left = -1  # bytes left in the current chunk; -1: a chunk size line comes next
        self._writable = asyncio.Event()
        self._writable.set()

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio.Transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._reply is None or self._reply.done():
            if self._reply is None:  # bytes nobody asked for: this connection cannot be trusted any more
                self._close()
            return
        try:
            self._parse()
        except HttpProtocolError as exc:
            self._reply.set_exception(exc)
            self._close()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def eof_received(self) -> bool | None:
        self._finish_at_close()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._writable.set()
        self._finish_at_close(exc)

    # --- requests -----------------------------------------------------------------------------

    def send(self, data: bytes, *, head: bool, status_only: bool = False) -> asyncio.Future[HttpReply]:
        assert self.transport is not None
        self._reply = asyncio.get_running_loop().create_future()
        self._head_request = head
        self._status_only = status_only
        self._status, self._headers, self._keep_alive = 0, None, True
        self._length, self._chunked, self._chunk_left = None, False, -1
        self._body = bytearray()
        self.transport.write(data)
        return self._reply

    async def write_more(self, data: bytes) -> None:
        """More of the request body; waits while the transport's buffer is full."""
        assert self.transport is not None
        if self.closed:
            raise ConnectionError("the server closed the connection while the request was being sent")
        self.transport.write(data)
        if not self._writable.is_set():
            await self._writable.wait()

    def reusable(self) -> bool:
        return not self.closed and self._keep_alive and not self._buffer and self.transport is not None

    def _close(self) -> None:
        self._keep_alive = False
        if self.transport is not None:
            self.transport.close()

    def _finish_at_close(self, exc: Exception | None = None) -> None:
        reply = self._reply
        if reply is None or reply.done():
            return
        if self._headers is not None and self._length is None and not self._chunked:
            self._body += self._buffer  # a body delimited by the end of the connection
            self._buffer.clear()
            reply.set_result(HttpReply(self._status, self._headers, bytes(self._body)))
            return
        reply.set_exception(ConnectionError(f"the server closed the connection mid-reply{f' ({exc})' if exc else ''}"))

    # --- parsing ------------------------------------------------------------------------------

    def _parse(self) -> None:
        if self._headers is None and not self._parse_head():
            return
        if self._status_only:  # the body is not wanted: hang up instead of reading it
            assert self._reply is not None and self._headers is not None
            self._close()
            self._reply.set_result(HttpReply(self._status, self._headers, b""))
            return
        if self._chunked:
            done = self._parse_chunks()
        elif self._length is not None:
            if len(self._buffer) < self._length:
                return
            self._body = self._buffer[: self._length]
            del self._buffer[: self._length]
            done = True
        else:
            return  # until the connection closes
        if done:
            assert self._reply is not None and self._headers is not None
            if self._buffer:
                self._close()
            self._reply.set_result(HttpReply(self._status, self._headers, bytes(self._body)))

    def _parse_head(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > _MAX_HEAD:
                raise HttpProtocolError("the reply's head is larger than 64 KiB")
            return False
        lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        del self._buffer[: end + 4]
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise HttpProtocolError(f"not an HTTP/1.x status line: {lines[0][:100]!r}")
        status = int(parts[1])
        if 100 <= status < 200:  # an interim reply (100 Continue): the real one follows
            return self._parse_head() if self._buffer else False
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise HttpProtocolError(f"not a header line: {line[:100]!r}")
            headers[name.strip().lower()] = value.strip()
        self._status, self._headers = status, headers
        connection = headers.get("connection", "").lower()
        self._keep_alive = "close" not in connection and (parts[0] != "HTTP/1.0" or "keep-alive" in connection)
        if self._head_request or status in (204, 304):
            self._length = 0
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            self._chunked = True
        elif "content-length" in headers:
            try:
                self._length = int(headers["content-length"])
            except ValueError as exc:
                raise HttpProtocolError(f"bad Content-Length {headers['content-length']!r}") from exc
        else:
            self._keep_alive = False  # the body runs until the server closes the connection
        return True

    def _parse_chunks(self) -> bool:
        buffer = self._buffer
        while True:
            if self._chunk_left < 0:
                end = buffer.find(b"\r\n")
                if end < 0:
                    return False
                size_text = bytes(buffer[:end]).split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError as exc:
                    raise HttpProtocolError(f"bad chunk size {size_text[:20]!r}") from exc
                if size == 0:
                    trailer_end = buffer.find(b"\r\n\r\n", end)
                    if trailer_end == end:  # no trailers: "0\r\n\r\n"
                        del buffer[: end + 4]
                        return True
                    if trailer_end < 0:
                        return False
                    del buffer[: trailer_end + 4]
                    return True
                del buffer[: end + 2]
                self._chunk_left = size
            if len(buffer) < self._chunk_left + 2:
                return False
            self._body += buffer[: self._chunk_left]
            del buffer[: self._chunk_left + 2]
            self._chunk_left = -1


class FastHttp:
    """Keep-alive HTTP/1.1 requests to one `http://host:port` server."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"FastHttp speaks only plain http://host[:port], got {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self._host_header = parts.netloc.rsplit("@", 1)[-1]  # as written, so "[::1]:8188" keeps its brackets
        self._idle: list[_Connection] = []

    async def request(
        self,
        method: str,
        target: str,
        body: bytes | AsyncIterable[bytes] = b"",
        *,
        content_length: int | None = None,
        content_type: str | None = None,
        timeout: float | None = None,
        status_only: bool = False,
    ) -> HttpReply:
        """Send one request (`target` is the path and query, already encoded) and read the whole reply.

        `body` may be an async iterable of parts, sent as they come, whose total is `content_length`: should it
        raise, the request is abandoned unfinished (the connection closed) and the error raised here. With
        `status_only` the reply's body is not read (it comes back empty) and the connection is closed after its
        head: for a HEAD-like question to a server that answers HEAD with 405."""
        streamed = not isinstance(body, bytes)
        if streamed and content_length is None:
            raise ValueError("a streamed request body needs its content_length")
        length = len(body) if isinstance(body, bytes) else content_length
        head = [f"{method} {self.prefix}{target} HTTP/1.1\r\nHost: {self._host_header}\r\nAccept: */*\r\n"]
        if length or method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {length}\r\n")
            if content_type:
                head.append(f"Content-Type: {content_type}\r\n")
        head.append("\r\n")
        data = "".join(head).encode("latin-1")
        if isinstance(body, bytes):
            data += body
        async with asyncio.timeout(timeout if timeout is not None else self.timeout):
            connection = await self._acquire()
            pending: asyncio.Future[HttpReply] | None = None
            try:
                pending = connection.send(data, head=method == "HEAD", status_only=status_only)
                if not isinstance(body, bytes):
                    sent = 0
                    async for part in body:
                        sent += len(part)
                        await connection.write_more(part)
                    if sent != content_length:
                        raise ValueError(f"the streamed body was {sent} bytes, not the {content_length} announced")
                reply = await pending
            except BaseException:
                connection._close()
                if pending is not None:  # the error raised here is the one that matters
                    if pending.done() and not pending.cancelled():
                        pending.exception()
                    pending.cancel()
                raise
        if connection.reusable() and len(self._idle) < _MAX_IDLE:
            self._idle.append(connection)
        else:
            connection._close()
        return reply

    async def _acquire(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable():
                return connection
            connection._close()
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(_Connection, self.host, self.port)
        return protocol

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            with contextlib.suppress(Exception):
                connection._close()
