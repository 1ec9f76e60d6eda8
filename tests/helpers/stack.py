"""The whole orchestrator as real processes, for end-to-end and reliability tests.

    async with Stack(tmp_path) as stack:
        sim = stack.add_sim("sim-1", speed=2.0)
        stack.add_agent("sim-1", sim)
        await stack.wait_backends({"sim-1"})
        job_id = await stack.submit(workflow)

Every part is a separate process started the way `orch up` starts it (`python -m orch_cli <command>`), so a
test can SIGKILL any of them and start it again. The nats-server is real, from the wheel.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import httpx
import nats

from orch_common.contracts import subjects
from orch_common.natsutil import NatsServer, ensure_topology, free_port

__all__ = ["TERMINAL", "Proc", "Stack"]

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


@dataclass
class Proc:
    """One child process with its log file."""

    name: str
    args: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def start(self) -> Proc:
        out = open(self.log, "ab")  # noqa: SIM115 - the child owns it
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "orch_cli", *self.args], stdout=out, stderr=subprocess.STDOUT, env=env
        )
        out.close()
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup, like a crash or a pulled plug."""
        if self.alive:
            assert self.popen is not None
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait()

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait; SIGKILL if it does not exit in time. Returns the exit code."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Stack:
    """nats-server + scheduler + api + any number of sims and agents, each a real process."""

    def __init__(self, root: Path, *, scheduler: bool = True, api: bool = True) -> None:
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.nats = NatsServer(store_dir=root / "nats", log_file=self.logs / "nats.log")
        self.db = root / "events.duckdb"
        self.api_port = free_port()
        self.procs: dict[str, Proc] = {}
        self._want_scheduler = scheduler
        self._want_api = api
        self.http = httpx.AsyncClient(base_url=self.api_url, timeout=30)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    # ---------------------------------------------------------------------------------------- parts

    def _proc(self, name: str, args: list[str]) -> Proc:
        proc = Proc(name, args, self.logs / f"{name}.log").start()
        self.procs[name] = proc
        return proc

    def start_scheduler(self) -> Proc:
        return self._proc("scheduler", ["scheduler", "--nats-url", self.nats.url, "--db", str(self.db)])

    def start_api(self) -> Proc:
        return self._proc("api", ["api", "--nats-url", self.nats.url, "--port", str(self.api_port)])

    def add_sim(self, name: str, *options: str, port: int | None = None) -> Proc:
        """Start `orch sim` (options as on its command line, e.g. "--speed", "2")."""
        port = port or free_port()
        proc = self._proc(
            name, ["sim", "--port", str(port), "--data-dir", str(self.root / "sims" / name), *options]
        )
        proc.extra["url"] = f"http://127.0.0.1:{port}"
        proc.extra["port"] = port
        return proc

    def restart_sim(self, name: str) -> Proc:
        """Start a sim again on the same port and data directory (its queue and history are gone)."""
        old = self.procs[name]
        old.kill()
        proc = Proc(name, old.args, old.log, extra=old.extra).start()
        self.procs[name] = proc
        return proc

    def add_agent(self, backend_id: str, sim: Proc | str) -> Proc:
        url = sim if isinstance(sim, str) else sim.extra["url"]
        return self._proc(
            f"agent-{backend_id}", ["agent", "--nats-url", self.nats.url, "--comfy-url", url, "--id", backend_id]
        )

    def restart(self, name: str) -> Proc:
        old = self.procs[name]
        old.kill()
        proc = Proc(name, old.args, old.log, extra=old.extra).start()
        self.procs[name] = proc
        return proc

    # ----------------------------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Stack:
        await asyncio.to_thread(self.nats.start)
        nc = await nats.connect(self.nats.url)
        try:
            await ensure_topology(nc.jetstream())
        finally:
            await nc.close()
        if self._want_scheduler:
            self.start_scheduler()
        if self._want_api:
            self.start_api()
            await self.wait_http("/healthz")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.http.aclose()
        for proc in reversed(list(self.procs.values())):
            await asyncio.to_thread(proc.stop, 10.0)
        await asyncio.to_thread(self.nats.stop)
        if exc is not None:
            for proc in self.procs.values():
                print(f"----- {proc.name} (last lines) -----\n{proc.tail()}")

    # ------------------------------------------------------------------------------------- waiting

    async def wait_http(self, path: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await self.http.get(path)).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} did not answer 200 within {timeout}s\n{self.procs['api'].tail()}")
            await asyncio.sleep(0.1)

    async def wait_backends(self, ids: set[str], timeout: float = 60.0) -> list[dict[str, Any]]:
        """Until every backend in `ids` is registered and online."""
        deadline = time.monotonic() + timeout
        backends: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                response = await self.http.get("/api/backends")
                if response.status_code == 200:
                    backends = response.json()
                    online = {b["id"] for b in backends if b.get("status") in ("online", "busy")}
                    if ids <= online:
                        return backends
            await asyncio.sleep(0.2)
        raise TimeoutError(f"backends {sorted(ids)} not online within {timeout}s; saw {backends}")

    async def submit(self, workflow: dict[str, Any], **extra: Any) -> str:
        response = await self.http.post("/api/jobs", json={"workflow": workflow, **extra})
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    async def job(self, job_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/api/jobs/{job_id}")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    async def wait_terminal(self, job_ids: list[str], timeout: float = 120.0) -> dict[str, dict[str, Any]]:
        """Until every job is succeeded, failed or cancelled; returns their views."""
        deadline = time.monotonic() + timeout
        done: dict[str, dict[str, Any]] = {}
        while len(done) < len(job_ids):
            for job_id in job_ids:
                if job_id in done:
                    continue
                with contextlib.suppress(httpx.HTTPError):
                    view = await self.job(job_id)
                    if view["state"] in TERMINAL:
                        done[job_id] = view
            if time.monotonic() > deadline:
                pending = sorted(set(job_ids) - set(done))
                raise TimeoutError(f"{len(pending)} jobs not terminal within {timeout}s: {pending[:5]}")
            await asyncio.sleep(0.2)
        return done

    async def stream_events(self) -> list[dict[str, Any]]:
        """Every event in the ORCH_EVENTS stream, in order (read with a throwaway ordered consumer)."""
        nc = await nats.connect(self.nats.url)
        try:
            js = nc.jetstream()
            info = await js.stream_info(subjects.EVENTS_STREAM)
            total = info.state.messages
            out: list[dict[str, Any]] = []
            if total == 0:
                return out
            sub = await js.subscribe(subjects.all_events(), ordered_consumer=True)
            import json

            while len(out) < total:
                msg = await sub.next_msg(timeout=10)
                out.append(json.loads(msg.data))
            await sub.unsubscribe()
            return out
        finally:
            await nc.close()

    def logged_events(self) -> list[tuple[str, str]]:
        """(event_id, type) of every row of the DuckDB log; the scheduler must be stopped first."""
        con = duckdb.connect(str(self.db), read_only=True)
        try:
            rows = con.execute("SELECT event_id, type FROM events ORDER BY 1").fetchall()
        finally:
            con.close()
        return [(str(a), str(b)) for a, b in rows]
