"""The live stream and the editor proxy with every part a real process (nats, scheduler, API, agent, orch sim)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.helpers.stack import Stack
from tests.helpers.workflows import txt2img

pytestmark = pytest.mark.asyncio(loop_scope="function")


async def test_a_real_job_streams_progress_and_ends_with_its_terminal_state_and_outputs(tmp_path: Path) -> None:
    async with Stack(tmp_path) as stack:
        sim = stack.add_sim("sim-1", "--demo-models", "--step-seconds", "0.05")
        stack.add_agent("sim-1", sim)
        await stack.wait_backends({"sim-1"})
        ws_url = stack.api_url.replace("http://", "ws://") + "/api/live"
        async with connect(ws_url) as ws:
            snapshot = json.loads(await ws.recv())
            assert snapshot["type"] == "snapshot"
            assert [b["status"] for b in snapshot["backends"] if b["id"] == "sim-1"] in (["online"], ["busy"])
            job_id = await stack.submit(txt2img(seed=7, steps=10))
            seen: list[dict[str, Any]] = []
            async with asyncio.timeout(60):
                while True:
                    message = json.loads(await ws.recv())
                    seen.append(message)
                    if (
                        message["type"] == "job"
                        and message["job"]["id"] == job_id
                        and message["job"]["state"] in ("succeeded", "failed", "cancelled")
                    ):
                        break
        final = seen[-1]["job"]
        assert final["state"] == "succeeded", final
        assert final["backend"] == "sim-1" and final["outputs"]
        assert any(m["type"] == "progress" and m["job_id"] == job_id for m in seen)
        artifact = await stack.http.get(f"/api/artifacts/{final['outputs'][0]['artifact_id']}")
        assert artifact.status_code == 200 and artifact.headers["content-type"].startswith("image/")

        editor = await stack.http.get("/backends/sim-1/comfy/", headers={"Origin": stack.api_url})
        assert editor.status_code == 200 and "ComfyUI" in editor.text
