"""The commands a user types: `orch up` brings everything up and down cleanly and keeps the log for the next start;
`orch submit --wait` follows a job and downloads its outputs; `orch diagnose` checks a server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from orch_common.natsutil import free_port
from tests.helpers import FIXTURES
from tests.helpers.sim import start_sim
from tests.helpers.stack import Stack


def _orch(*args: str) -> list[str]:
    return [sys.executable, "-m", "orch_cli", *args]


async def _submit(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """`orch submit ARGS…`, run off the event loop."""
    command = _orch("submit", *map(str, args))
    return await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=120)


async def _wait_online(api: str, count: int, timeout: float = 60.0) -> list[dict]:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=api) as http:
        while time.monotonic() < deadline:
            try:
                backends = (await http.get("/api/backends")).json()
                if sum(b["status"] in ("online", "busy") for b in backends) >= count:
                    return backends  # type: ignore[no-any-return]
            except (httpx.HTTPError, ValueError):
                pass
            await asyncio.sleep(0.3)
    raise TimeoutError("backends did not come online")


async def test_orch_up_starts_a_fleet_stops_cleanly_and_keeps_the_log_for_the_next_start(tmp_path: Path) -> None:
    port, nats_port, sim_base = free_port(), free_port(), free_port()
    args = _orch(
        "up",
        "--data-dir",
        str(tmp_path / "data"),
        "--port",
        str(port),
        "--nats-port",
        str(nats_port),
        "--sim-port-base",
        str(sim_base),
        "--sims",
        "2",
    )
    api = f"http://127.0.0.1:{port}"
    up = await asyncio.to_thread(subprocess.Popen, args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert up.stdout is not None
        banner = await asyncio.to_thread(up.stdout.readline)
        while "is up" not in banner:
            banner = await asyncio.to_thread(up.stdout.readline)
            assert banner or up.poll() is None, "orch up exited before printing the URL"
        assert api in banner
        await _wait_online(api, 2)
        async with httpx.AsyncClient(base_url=api) as http:
            workflow = json.loads((FIXTURES / "workflows" / "api_basic.json").read_text())
            job_id = (await http.post("/api/jobs", json={"workflow": workflow})).json()["id"]
            for _ in range(200):
                if (await http.get(f"/api/jobs/{job_id}")).json()["state"] == "succeeded":
                    break
                await asyncio.sleep(0.1)
            assert (await http.get("/")).status_code == 200
    finally:
        up.send_signal(signal.SIGINT)
        code = await asyncio.to_thread(up.wait, 60)
    assert code == 0
    assert (tmp_path / "data" / "events.duckdb").exists()

    up = await asyncio.to_thread(subprocess.Popen, args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await _wait_online(api, 2)
        async with httpx.AsyncClient(base_url=api) as http:
            for _ in range(100):
                response = await http.get(f"/api/jobs/{job_id}")
                if response.status_code == 200:
                    break
                await asyncio.sleep(0.2)
            assert response.json()["state"] == "succeeded", "the job from the last start is still known"
    finally:
        up.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(up.wait, 60) == 0


async def test_orch_submit_wait_follows_the_job_and_downloads_its_outputs(tmp_path: Path) -> None:
    async with Stack(tmp_path) as stack:
        stack.add_agent("sim-1", stack.add_sim("sim-1", "--demo-models", "--step-seconds", "0.02"))
        await stack.wait_backends({"sim-1"})
        out = tmp_path / "out"
        result = await _submit(
            FIXTURES / "workflows" / "ui_default.json", "--wait", "--api", stack.api_url, "--download", out
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "succeeded" in result.stdout
        [png] = list(out.glob("*.png"))
        assert png.read_bytes().startswith(b"\x89PNG")


async def test_orch_submit_image_uploads_the_file_to_every_online_server_and_runs_the_image_workflow(
    tmp_path: Path,
) -> None:
    async with Stack(tmp_path) as stack:
        for name in ("sim-1", "sim-2"):
            stack.add_agent(name, stack.add_sim(name, "--demo-models", "--step-seconds", "0.01"))
        await stack.wait_backends({"sim-1", "sim-2"})
        source, workflow = FIXTURES / "upload_source.png", FIXTURES / "workflows" / "ui_image2image.json"
        result = await _submit(workflow, "--wait", "--api", stack.api_url, "--image", f"10={source}")
        assert result.returncode == 0, result.stdout + result.stderr
        async with httpx.AsyncClient(base_url=stack.api_url) as http:
            for name in ("sim-1", "sim-2"):  # a retry on the other server would find the file too
                listed = (await http.get(f"/backends/{name}/comfy/api/object_info/LoadImage")).json()
                choices = listed["LoadImage"]["input"]["required"]["image"][0]
                assert any(c.startswith("orch_") and c.endswith(".png") for c in choices), (name, choices)
        bad_node = await _submit(workflow, "--api", stack.api_url, "--image", f"3={source}")
        assert bad_node.returncode == 1 and "node 3 (KSampler) takes no image file" in bad_node.stderr


def test_orch_submit_image_names_a_malformed_option_or_a_missing_file(tmp_path: Path) -> None:
    workflow = FIXTURES / "workflows" / "ui_image2image.json"
    for option, said in (("10", "expected NODE=FILE"), (f"10={tmp_path / 'nope.png'}", "no such file")):
        result = subprocess.run(
            _orch("submit", str(workflow), "--api", "http://127.0.0.1:9", "--image", option),
            capture_output=True,
            text=True,
        )
        assert result.returncode == 1 and said in result.stderr, result.stderr


def _alive(process: psutil.Process) -> bool:
    """Running, and not a zombie left for its parent to reap."""
    return process.is_running() and process.status() != psutil.STATUS_ZOMBIE


async def test_a_ctrl_c_at_the_terminal_stops_every_service_before_nats_server(tmp_path: Path) -> None:
    port = free_port()
    args = _orch("up", "--data-dir", str(tmp_path / "data"), "--port", str(port), "--nats-port", str(free_port()))
    args += ["--sim-port-base", str(free_port()), "--sims", "2"]
    # a terminal job: its own process group, which Ctrl-C signals as a whole
    up = await asyncio.to_thread(
        subprocess.Popen, args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        await _wait_online(f"http://127.0.0.1:{port}", 2)
        children = psutil.Process(up.pid).children()
        [nats] = [c for c in children if c.name() == "nats-server"]
        services = [c for c in children if c.pid != nats.pid]
        os.killpg(up.pid, signal.SIGINT)
        deadline = time.monotonic() + 60
        while any(_alive(s) for s in services) and time.monotonic() < deadline:
            assert _alive(nats), "nats-server stopped before a service"
            await asyncio.sleep(0.02)
        assert await asyncio.to_thread(up.wait, 60) == 0
    finally:
        if up.poll() is None:
            up.kill()


def test_orch_submit_names_what_is_wrong_with_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = subprocess.run(
        _orch("submit", str(bad), "--api", "http://127.0.0.1:9"),
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "40"},  # a narrow terminal must not break the message
    )
    assert result.returncode == 1 and f"error: {bad} is not JSON" in result.stderr


async def test_orch_diagnose_passes_every_check_on_a_sim_and_fails_on_a_dead_port(tmp_path: Path) -> None:
    with start_sim(tmp_path) as sim:
        ok = await asyncio.to_thread(subprocess.run, _orch("diagnose", sim.url), capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout
    assert "image upload + /view round trip" in ok.stdout and "FAIL" not in ok.stdout
    dead = await asyncio.to_thread(
        subprocess.run, _orch("diagnose", f"http://127.0.0.1:{free_port()}"), capture_output=True, text=True
    )
    assert dead.returncode == 1 and "FAIL" in dead.stdout
