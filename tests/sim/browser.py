"""Headless Debian chromium driven over the DevTools protocol: load a page, evaluate JS, collect the page's
uncaught exceptions and console errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.helpers.sim import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """One headless chromium with one page; `errors` lists exceptions and console/log errors seen so far."""

    def __init__(self) -> None:
        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="orch-sim-chromium-")
        self.process: subprocess.Popen[bytes] | None = None
        self.socket: ClientConnection | None = None
        self.errors: list[str] = []
        self.failed_requests: list[tuple[int, str]] = []
        self._next_id = 0
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Browser:
        self.process = self._launch()
        page = await asyncio.to_thread(self._page_target)
        self.socket = await connect(page["webSocketDebuggerUrl"], max_size=None)
        self._reader = asyncio.get_running_loop().create_task(self._read())
        for domain in ("Runtime", "Log", "Network", "Page"):
            await self.call(f"{domain}.enable")
        return self

    def _launch(self) -> subprocess.Popen[bytes]:
        assert CHROMIUM is not None, "chromium is not installed"
        return subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--remote-debugging-port={self.port}", f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _page_target(self) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError, StopIteration):
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json", timeout=2) as reply:
                    targets = json.load(reply)
                return next(t for t in targets if t["type"] == "page")
            time.sleep(0.1)
        raise TimeoutError("chromium did not open its DevTools port")

    async def __aexit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self.socket is not None:
            await self.socket.close()
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    async def _read(self) -> None:
        assert self.socket is not None
        async for raw in self.socket:
            message = json.loads(raw)
            if "id" in message and message["id"] in self._replies:
                self._replies.pop(message["id"]).set_result(message)
                continue
            method, params = message.get("method"), message.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                self.errors.append(details.get("exception", {}).get("description") or details.get("text", ""))
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                self.errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
            elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
                self.failed_requests.append((params["response"]["status"], params["response"]["url"]))

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        assert self.socket is not None
        self._next_id += 1
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[self._next_id] = reply
        await self.socket.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        result = await asyncio.wait_for(reply, 60)
        if "error" in result:
            raise RuntimeError(f"{method}: {result['error']}")
        return result.get("result", {})

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page raised: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def goto(self, url: str) -> None:
        await self.call("Page.navigate", url=url)

    async def wait_until(self, expression: str, timeout: float = 60.0) -> Any:
        """Poll a JS expression until it is truthy; its value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            with contextlib.suppress(RuntimeError):
                value = await self.evaluate(expression)
                if value:
                    return value
            await asyncio.sleep(0.2)
        raise TimeoutError(f"never true in the page: {expression}")
