"""The ComfyUI editor proxy forwards only to registered backends, and works against a real `orch sim`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from nats.aio.client import Client
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from orch_common.natsutil import free_port
from tests.api.conftest import BASIC_CLASSES, ApiServer, register_backend
from tests.helpers import FIXTURES
from tests.helpers.sim import SimProcess, start_sim

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SimProcess]:
    path: Path = tmp_path_factory.mktemp("sim")
    process = await asyncio.to_thread(start_sim, path)
    yield process
    await asyncio.to_thread(process.stop)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def registered(nc: Client, sim: SimProcess) -> str:
    await register_backend(nc, "sim-p", sim.url, BASIC_CLASSES)
    return "sim-p"


async def test_an_unregistered_backend_id_is_refused(api: ApiServer) -> None:
    async with api.client() as http:
        response = await http.get("/backends/nobody/comfy/")
    assert response.status_code == 404
    assert "nobody" in response.json()["detail"]["message"]


@pytest.mark.parametrize(
    "path", ["http://example.com/x", "http:%2F%2Fexample.com/x", "%2F%2Fexample.com/x", "a/..%2F..%2F..%2Fb"]
)
async def test_a_url_looking_path_is_refused(api: ApiServer, registered: str, path: str) -> None:
    async with api.client() as http:
        response = await http.get(f"/backends/{registered}/comfy/{path}")
    assert response.status_code in (400, 404), response.text
    assert response.status_code != 200


async def test_the_editor_index_and_object_info_come_through_with_a_browser_origin(
    api: ApiServer, registered: str
) -> None:
    async with api.client(headers={"Origin": api.url}) as http:
        root = await http.get(f"/backends/{registered}/comfy")
        index = await http.get(f"/backends/{registered}/comfy/")
        info = await http.get(f"/backends/{registered}/comfy/api/object_info")
    assert root.status_code == 307 and root.headers["location"] == f"/backends/{registered}/comfy/"
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert "<title>ComfyUI</title>" in index.text
    assert info.status_code == 200 and "SaveImage" in info.json()


async def test_a_prompt_posted_through_the_proxy_reaches_the_backend(api: ApiServer, registered: str) -> None:
    workflow = json.loads((FIXTURES / "workflows" / "api_basic.json").read_text())
    async with api.client(headers={"Origin": api.url}) as http:
        response = await http.post(f"/backends/{registered}/comfy/api/prompt", json={"prompt": workflow})
    assert response.status_code == 200, response.text
    assert response.json()["prompt_id"]


async def test_the_websocket_is_relayed_to_the_backend(api: ApiServer, registered: str) -> None:
    url = f"{api.ws_url}/backends/{registered}/comfy/ws?clientId=proxy-test"
    async with connect(url, origin=api.url) as ws:  # type: ignore[arg-type]
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert first["type"] == "status"
    assert first["data"]["sid"] == "proxy-test"


async def test_the_websocket_of_an_unknown_backend_is_refused(api: ApiServer) -> None:
    with pytest.raises(InvalidStatus):
        async with connect(f"{api.ws_url}/backends/nobody/comfy/ws"):
            pass


async def test_a_backend_that_does_not_answer_gives_502(api: ApiServer, nc: Client) -> None:
    await register_backend(nc, "dead", f"http://127.0.0.1:{free_port()}", BASIC_CLASSES)
    async with api.client() as http:
        response = await http.get("/backends/dead/comfy/queue")
    assert response.status_code == 502
    assert "dead" in response.json()["detail"]["message"]


async def test_the_assets_the_editor_index_references_load_through_the_proxy(api: ApiServer, registered: str) -> None:
    import re

    prefix = f"/backends/{registered}/comfy/"
    async with api.client(headers={"Origin": api.url}) as http:
        index = (await http.get(prefix)).text
        relative = [u for u in re.findall(r'(?:src|href)="([^"#?]+)"', index) if "://" not in u and u[:1] != "/"]
        assert relative, index[:500]
        for url in [u for u in relative if not u.endswith("user.css")][:10]:  # a 404 on ComfyUI itself
            response = await http.get(prefix + url)
            assert response.status_code == 200, url


async def test_an_image_uploaded_through_the_proxy_can_be_viewed_through_it(api: ApiServer, registered: str) -> None:
    png = (FIXTURES / "upload_source.png").read_bytes()
    prefix = f"/backends/{registered}/comfy/"
    async with api.client(headers={"Origin": api.url}) as http:
        uploaded = await http.post(prefix + "api/upload/image", files={"image": ("proxied.png", png, "image/png")})
        assert uploaded.status_code == 200, uploaded.text
        name = uploaded.json()["name"]
        viewed = await http.get(prefix + "api/view", params={"filename": name, "type": "input"})
    assert viewed.status_code == 200 and viewed.content == png


async def test_encoded_slashes_reach_the_backend_still_encoded(api: ApiServer, registered: str) -> None:
    prefix = f"/backends/{registered}/comfy/"
    workflow = b'{"nodes": [], "links": []}'
    async with api.client(headers={"Origin": api.url}) as http:
        saved = await http.post(prefix + "api/userdata/workflows%2Fproxied.json", content=workflow)
        listed = await http.get(prefix + "api/userdata", params={"dir": "workflows"})
        read = await http.get(prefix + "api/userdata/workflows%2Fproxied.json")
    assert saved.status_code == 200, saved.text
    assert "proxied.json" in listed.json()
    assert read.status_code == 200 and read.content == workflow


async def test_a_prompt_queued_by_the_proxied_editor_reports_its_progress_on_the_proxied_websocket(
    api: ApiServer, registered: str
) -> None:
    workflow = json.loads((FIXTURES / "workflows" / "api_basic.json").read_text())
    workflow["1"]["inputs"]["color"] = 0x123456 + free_port()  # not served from the sim's cache
    client_id = "editor-in-iframe"
    prefix = f"/backends/{registered}/comfy"
    async with connect(f"{api.ws_url}{prefix}/ws?clientId={client_id}", origin=api.url) as ws:  # type: ignore[arg-type]
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "status"
        async with api.client(headers={"Origin": api.url}) as http:
            queued = await http.post(f"{prefix}/api/prompt", json={"prompt": workflow, "client_id": client_id})
        assert queued.status_code == 200, queued.text
        prompt_id = queued.json()["prompt_id"]
        seen: list[tuple[str, dict]] = []
        while not any(kind == "executing" and data.get("node") is None for kind, data in seen):
            raw = await asyncio.wait_for(ws.recv(), 10)
            if isinstance(raw, str):
                message = json.loads(raw)
                if message["data"].get("prompt_id") == prompt_id:
                    seen.append((message["type"], message["data"]))
    kinds = [kind for kind, _ in seen]
    assert kinds[0] == "execution_start" and "execution_success" in kinds
    assert {data["node"] for kind, data in seen if kind == "executing" and data["node"]} == {"1", "2", "3", "4"}
    [executed] = [data for kind, data in seen if kind == "executed"]
    assert executed["node"] == "4" and executed["output"]["images"][0]["filename"].startswith("fx_basic")
