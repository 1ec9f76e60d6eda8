"""Fixtures for the API tests: the API under uvicorn on a free port, a NATS client, and a scheduler stand-in.

The stand-in (`FakeScheduler`) answers the scheduler's RPC subjects on the real wire (the brief's interim until
the real scheduler runs here); it holds jobs and projects in dicts that the test fills.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import nats
import pytest
import pytest_asyncio
import uvicorn
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from orch_api import ApiSettings, create_app
from orch_common.contracts import subjects
from orch_common.contracts.rpc import RpcVerb
from orch_common.natsutil import NatsServer, free_port

BASIC_CLASSES = ["EmptyImage", "ImageBlur", "ImageInvert", "SaveImage", "PreviewImage", "LoadImage"]


@dataclass
class ApiServer:
    url: str
    ws_url: str
    settings: ApiSettings
    server: uvicorn.Server

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=15.0, **kwargs)


@asynccontextmanager
async def running_api(settings: ApiSettings) -> AsyncIterator[ApiServer]:
    """The API app served by uvicorn in this event loop, on `settings.port`."""
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=settings.port,
        log_level="warning",
        lifespan="on",
        ws="websockets-sansio",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(300):
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    if task.done():
        task.result()
        raise RuntimeError("the API did not start")
    try:
        yield ApiServer(f"http://127.0.0.1:{settings.port}", f"ws://127.0.0.1:{settings.port}", settings, server)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


class RpcFailure(Exception):
    """Raised by a `FakeScheduler` handler to answer with an RPC error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class FakeScheduler:
    """Answers `orch.v1.rpc.scheduler.*` from dicts; `handlers` may override a verb."""

    nc: Client
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    backends: list[dict[str, Any]] = field(default_factory=list)
    projects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    handlers: dict[str, Callable[[dict[str, Any]], Any]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _subs: list[Subscription] = field(default_factory=list)

    async def start(self) -> FakeScheduler:
        for verb in RpcVerb:
            self._subs.append(await self.nc.subscribe(subjects.rpc(verb.value), cb=self._answer))
        await self.nc.flush()
        return self

    async def stop(self) -> None:
        for sub in self._subs:
            await sub.unsubscribe()
        self._subs.clear()
        await self.nc.flush()

    def _result(self, verb: str, req: dict[str, Any]) -> Any:
        if verb in self.handlers:
            return self.handlers[verb](req)
        if verb == RpcVerb.PING:
            return {"pong": True}
        if verb == RpcVerb.JOBS_GET:
            return self.jobs.get(req["job_id"])
        if verb == RpcVerb.JOBS_EVENTS:
            return self.events.get(req["job_id"]) if req["job_id"] in self.jobs else None
        if verb == RpcVerb.JOBS_LIST:
            jobs = [j for j in self.jobs.values() if req.get("state") in (None, j["state"])]
            return {"jobs": jobs[req.get("offset", 0) :][: req.get("limit", 100)], "total": len(jobs)}
        if verb == RpcVerb.BACKENDS_LIST:
            return self.backends
        if verb == RpcVerb.PROJECTS_LIST:
            return [
                {"id": pid, "name": v[-1]["document"]["name"], "version": v[-1]["version"]}
                for pid, v in self.projects.items()
            ]
        if verb == RpcVerb.PROJECTS_GET:
            versions = self.projects.get(req["project_id"])
            if not versions:
                return None
            wanted = req.get("version")
            found = [v for v in versions if wanted in (None, v["version"])]
            return found[-1] if found else None
        if verb == RpcVerb.PROJECTS_VERSIONS:
            versions = self.projects.get(req["project_id"])
            return None if versions is None else [{"version": v["version"]} for v in versions]
        raise AssertionError(verb)

    async def _answer(self, msg: Msg) -> None:
        verb = msg.subject.rsplit(".scheduler.", 1)[1]
        req = json.loads(msg.data or b"{}")
        self.requests.append((verb, req))
        try:
            result = self._result(verb, req)
        except RpcFailure as failure:
            reply: dict[str, Any] = {"error": {"code": failure.code, "message": str(failure)}}
            await msg.respond(json.dumps(reply).encode())
            return
        if result is None and verb not in (RpcVerb.PING,):
            reply = {"error": {"code": "not_found", "message": f"nothing for {req}"}}
        else:
            reply = {"result": result}
        await msg.respond(json.dumps(reply, default=str).encode())


def job_view(job_id: str, state: str = "queued", **extra: Any) -> dict[str, Any]:
    return {
        "id": job_id,
        "state": state,
        "attempts": [],
        "backend": None,
        "timings": {},
        "error": None,
        "outputs": [],
        **extra,
    }


async def register_backend(
    nc: Client, backend_id: str, comfy_url: str, classes: list[str], models: dict[str, list[str]] | None = None
) -> None:
    """Put a registration into the KV bucket the way an agent does (`models`: folder → files it has)."""
    kv = await nc.jetstream().key_value(subjects.BACKENDS_BUCKET)
    capabilities: dict[str, Any] = {"node_classes": classes, "object_info_hash": f"hash-{backend_id}"}
    if models is not None:
        capabilities["models"] = models
    value = {
        "backend_id": backend_id,
        "comfy_url": comfy_url,
        "agent_instance": "test",
        "capabilities": capabilities,
    }
    await kv.put(backend_id, json.dumps(value).encode())


async def event_count(nc: Client) -> int:
    info = await nc.jetstream().stream_info(subjects.EVENTS_STREAM)
    return int(info.state.messages)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def nc(nats_server: NatsServer) -> AsyncIterator[Client]:
    client = await nats.connect(nats_server.url)
    yield client
    await client.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiServer]:
    settings = ApiSettings(
        nats_url=nats_server.url,
        port=free_port(),
        max_body_bytes=64 * 1024,
        rpc_timeout=2.0,
        ui_dist=tmp_path_factory.mktemp("no-ui") / "dist",
    )
    async with running_api(settings) as server:
        yield server


@pytest_asyncio.fixture(loop_scope="module")
async def scheduler(nc: Client) -> AsyncIterator[FakeScheduler]:
    fake = await FakeScheduler(nc).start()
    yield fake
    await fake.stop()
