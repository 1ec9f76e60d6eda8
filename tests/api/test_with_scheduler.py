"""The API against the real scheduler (`orch scheduler` as a subprocess): jobs and projects end to end."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
import pytest_asyncio
from nats.aio.client import Client

from orch_common.natsutil import NatsServer
from tests.api.conftest import BASIC_CLASSES, ApiServer, register_backend
from tests.helpers import FIXTURES, REPO

pytestmark = pytest.mark.asyncio(loop_scope="module")

BASIC = json.loads((FIXTURES / "workflows" / "api_basic.json").read_text())


def _spawn(nats_url: str, tmp: Path, log: IO[bytes]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "orch_cli", "scheduler", "--nats-url", nats_url, "--db", str(tmp / "x.duckdb")]
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def real_scheduler(
    nats_server: NatsServer, api: ApiServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[subprocess.Popen[bytes]]:
    tmp: Path = tmp_path_factory.mktemp("scheduler")
    log = (tmp / "scheduler.log").open("wb")
    process = _spawn(nats_server.url, tmp, log)
    try:
        async with api.client() as http:
            for _ in range(300):
                if process.poll() is not None:
                    break
                if (await http.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.skip("the scheduler did not answer ping within 30 s")
        if process.poll() is not None:
            pytest.skip(f"the scheduler exited: {(tmp / 'scheduler.log').read_text()[-2000:]}")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


async def _eventually(probe: Callable[[], Awaitable[httpx.Response]], ok: Callable[[httpx.Response], bool]) -> Any:
    response = None
    for _ in range(100):
        response = await probe()
        if ok(response):
            return response.json()
        await asyncio.sleep(0.1)
    raise AssertionError(
        f"never satisfied; last answer {response.status_code if response else None}: "
        f"{response.text if response else ''}"
    )


async def test_a_submitted_job_is_read_back_from_the_scheduler(
    api: ApiServer, nc: Client, real_scheduler: subprocess.Popen[bytes]
) -> None:
    await register_backend(nc, "gpu-r", "http://127.0.0.1:9", BASIC_CLASSES)
    async with api.client() as http:
        job_id = (await http.post("/api/jobs", json={"workflow": BASIC})).json()["id"]
        job = await _eventually(lambda: http.get(f"/api/jobs/{job_id}"), lambda r: r.status_code == 200)
        assert job["id"] == job_id and job["state"] in ("queued", "scheduled", "running")
        # the list is the scheduler's read model: it shows the job as soon as the scheduler has folded it
        await _eventually(
            lambda: http.get("/api/jobs"),
            lambda r: r.status_code == 200 and job_id in [j["id"] for j in r.json()["jobs"]],
        )
        events = (await http.get(f"/api/jobs/{job_id}/events")).json()
        assert events and "submitted" in json.dumps(events[0])
        assert (await http.get("/api/jobs/does-not-exist")).status_code == 404
        cancel = await http.post(f"/api/jobs/{job_id}/cancel")
        assert cancel.status_code == 202
        done = await _eventually(lambda: http.get(f"/api/jobs/{job_id}"), lambda r: r.json()["state"] == "cancelled")
        assert done["state"] == "cancelled"
        again = await http.post(f"/api/jobs/{job_id}/cancel")
        assert again.status_code == 409


async def test_a_project_round_trips_through_the_event_log(
    api: ApiServer, real_scheduler: subprocess.Popen[bytes]
) -> None:
    doc = {"name": "Round trip", "nodes": [], "edges": []}
    async with api.client() as http:
        project_id = (await http.post("/api/projects", json=doc)).json()["id"]
        await _eventually(lambda: http.get(f"/api/projects/{project_id}"), lambda r: r.status_code == 200)
        saved = await http.put(f"/api/projects/{project_id}", json={**doc, "view": {"zoom": 2}})
        assert saved.json()["version"] == 2
        latest = await _eventually(
            lambda: http.get(f"/api/projects/{project_id}"), lambda r: r.json().get("version") == 2
        )
        assert latest["document"]["view"] == {"zoom": 2}
        versions = await _eventually(
            lambda: http.get(f"/api/projects/{project_id}/versions"),
            lambda r: r.status_code == 200 and len(r.json()["versions"]) == 2,
        )
        assert [v["version"] for v in versions["versions"]] == [1, 2]
        await http.post(f"/api/projects/{project_id}/rename", json={"name": "Renamed"})
        await _eventually(
            lambda: http.get("/api/projects"),
            lambda r: any(p["id"] == project_id and p["name"] == "Renamed" for p in r.json()["projects"]),
        )
        await http.delete(f"/api/projects/{project_id}")
        await _eventually(lambda: http.get(f"/api/projects/{project_id}"), lambda r: r.status_code == 404)
