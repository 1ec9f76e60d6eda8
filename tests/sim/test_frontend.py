"""The real ComfyUI web frontend is served: its index, the assets it imports, and the routes it calls while
loading (`frontend_load_requests.json`)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from tests.helpers.sim import SimProcess, start_sim
from tests.sim.browser import CHROMIUM, Browser
from tests.sim.wsutil import http, recorded


async def test_the_index_and_the_assets_it_names_load(sim: SimProcess) -> None:
    index = await http(sim.url, "GET", "/")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert "<title>ComfyUI</title>" in index.text
    assets = sorted(set(re.findall(r'(?:src|href)="\.?/?(assets/[^"]+)"', index.text)))
    assert assets
    for asset in assets[:8]:
        response = await http(sim.url, "GET", "/" + asset)
        assert response.status_code == 200, asset
    script = next(a for a in assets if a.endswith(".js"))
    response = await http(sim.url, "GET", "/" + script)
    assert response.headers["content-type"].startswith("application/javascript")


async def test_every_request_the_frontend_made_while_loading_gets_the_recorded_status(sim: SimProcess) -> None:
    requests = recorded("frontend_load_requests.json")["requests"]
    assets = [r for r in requests if r["path"].startswith("/assets/")]
    for request in [r for r in requests if not r["path"].startswith("/assets/")] + assets[::25]:
        path = request["path"]
        if not path.startswith("/") or path.startswith("/ws"):
            continue
        response = await http(sim.url, request["method"], path)
        want = request["status"]
        if path.startswith("/api/userdata?dir=workflows"):
            want = 404  # no saved workflows yet, as when recorded
        assert response.status_code == want, path
        if "json" in request and path not in ("/api/system_stats", "/api/settings", "/api/experiment/models"):
            body = response.json()
            assert type(body) is type(request["json"]), path
            if path in ("/api/users", "/api/i18n", "/api/queue"):
                assert body == request["json"], path


async def test_workflow_templates_are_served_from_the_installed_package(sim: SimProcess) -> None:
    index = await http(sim.url, "GET", "/templates/index.json")
    assert index.status_code == 200
    assert isinstance(index.json(), list)
    default = await http(sim.url, "GET", "/templates/default.json")
    assert default.status_code == 200 and "nodes" in default.json()
    assert (await http(sim.url, "GET", "/api/workflow_templates")).json() == {}
    assert (await http(sim.url, "GET", "/templates/..%2F..%2Fsetup.py")).status_code == 404


EXPECTED_404 = ("/user.css", "/api/userdata/", "/favicon.ico", "/api/userdata?dir=")


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian chromium")
async def test_the_editor_loads_without_errors_and_queues_its_default_workflow(tmp_path: Path) -> None:
    with start_sim(tmp_path, demo_models=True, speed=20) as sim:
        await http(sim.url, "POST", "/api/settings", json={"Comfy.TutorialCompleted": True})
        async with Browser() as browser:
            await browser.goto(sim.url + "/")
            nodes = await browser.wait_until("window.app?.graph?._nodes?.length")
            assert nodes == 7
            await browser.evaluate("app.queuePrompt(0).then(() => true)")
            for _ in range(600):
                history = (await http(sim.url, "GET", "/history")).json()
                if history:
                    break
                await asyncio.sleep(0.1)
            entry = next(iter(history.values()))
            assert entry["status"]["status_str"] == "success", entry["status"]
            assert [item["type"] for item in entry["outputs"]["9"]["images"]] == ["output"]
            await browser.wait_until("document.querySelector('.comfyui-body, #graph-canvas, canvas') !== null")
            assert browser.errors == []
            unexpected = [(status, url) for status, url in browser.failed_requests
                          if not any(part in url for part in EXPECTED_404)]
            assert unexpected == []
