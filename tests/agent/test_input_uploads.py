"""Inputs by content hash: an artifact whose bytes this agent already uploaded to its ComfyUI is not sent again, as
long as the server still has the file; a server that lost it (deleted, restarted) gets it again."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
from pathlib import Path

import httpx
import pytest
from PIL import Image

from orch_common.contracts import subjects
from orch_common.contracts.events import FailureReason, InputBinding
from orch_common.natsutil import NatsServer
from orch_common.natsutil.objects import CHUNK_SIZE, put_artifact, read_artifact_info
from tests.agent.harness import ended, job_events, run_command, running_agent, send, wait_for
from tests.helpers import FIXTURES
from tests.helpers.nats import nats_client
from tests.helpers.sim import start_sim

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

SOURCE = (FIXTURES / "upload_source.png").read_bytes()


def _other_png() -> bytes:
    """A valid PNG whose bytes differ from SOURCE's: one pixel inverted. (Random bytes in place of SOURCE's last
    chunk made a broken PNG now and then, which LoadImage rightly refused.)"""
    with Image.open(io.BytesIO(SOURCE)) as picture:
        changed = picture.convert("RGB")
    red, green, blue = changed.getpixel((0, 0))  # type: ignore[misc]
    changed.putpixel((0, 0), (255 - red, 255 - green, 255 - blue))
    out = io.BytesIO()
    changed.save(out, format="PNG")
    return out.getvalue()


def load_and_scale() -> dict:
    workflow: dict = json.loads((FIXTURES / "workflows" / "api_loadimage_scale.json").read_text())
    return workflow


def binding(artifact_id: str, filename: str) -> InputBinding:
    return InputBinding(artifact_id=artifact_id, node_id="10", input_name="image", filename=filename)


async def run_with(nc, backend_id: str, bound: InputBinding) -> list:
    command = run_command(backend_id, load_and_scale(), inputs=[bound])
    await send(nc, command)
    events = await job_events(nc, command.job_id, ended)
    assert events[-1].type == "job.succeeded", events[-1]
    return events


async def on_server(sim_url: str, filename: str) -> bytes | None:
    async with httpx.AsyncClient(base_url=sim_url) as http:
        reply = await http.get("/view", params={"filename": filename, "type": "input"})
    return reply.content if reply.status_code == 200 else None


async def test_an_input_already_uploaded_to_that_server_is_not_uploaded_again(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    with start_sim(tmp_path) as sim:
        async with nats_client(nats_server.url) as nc, running_agent(nc, nats_server.url, sim.url, "b-up1") as agent:
            js = nc.jetstream()
            await put_artifact(js, "first/1/9/0-a.png", SOURCE, "image/png")
            await put_artifact(js, "second/1/9/0-a.png", SOURCE, "image/png")  # other job, same bytes
            await run_with(nc, "b-up1", binding("first/1/9/0-a.png", "orch_first.png"))
            await run_with(nc, "b-up1", binding("second/1/9/0-a.png", "orch_second.png"))
            await run_with(nc, "b-up1", binding("first/1/9/0-a.png", "orch_first.png"))
            assert agent.inputs_uploaded == 1
            assert await on_server(sim.url, "orch_first.png") == SOURCE
            assert await on_server(sim.url, "orch_second.png") is None, "the file already there was reused"


async def test_other_bytes_are_uploaded_even_under_a_name_the_server_has(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    other = _other_png()  # a different file, same name
    with start_sim(tmp_path) as sim:
        async with nats_client(nats_server.url) as nc, running_agent(nc, nats_server.url, sim.url, "b-up2") as agent:
            js = nc.jetstream()
            await put_artifact(js, "one/1/9/0-a.png", SOURCE, "image/png")
            await put_artifact(js, "two/1/9/0-a.png", other, "image/png")
            await run_with(nc, "b-up2", binding("one/1/9/0-a.png", "orch_same.png"))
            await run_with(nc, "b-up2", binding("two/1/9/0-a.png", "orch_same.png"))
            assert agent.inputs_uploaded == 2
            assert await on_server(sim.url, "orch_same.png") == SOURCE
            assert await on_server(sim.url, "orch_same (1).png") == other, "ComfyUI renamed the different bytes"


async def test_an_input_gone_from_the_server_is_uploaded_again(nats_server: NatsServer, tmp_path: Path) -> None:
    with start_sim(tmp_path) as sim:
        async with nats_client(nats_server.url) as nc, running_agent(nc, nats_server.url, sim.url, "b-up3") as agent:
            await put_artifact(nc.jetstream(), "gone/1/9/0-a.png", SOURCE, "image/png")
            bound = binding("gone/1/9/0-a.png", "orch_gone.png")
            await run_with(nc, "b-up3", bound)
            (sim.data_dir / "input" / "orch_gone.png").unlink()
            await run_with(nc, "b-up3", bound)
            assert agent.inputs_uploaded == 2
            assert await on_server(sim.url, "orch_gone.png") == SOURCE


async def test_a_server_that_restarted_gets_the_input_again(nats_server: NatsServer, tmp_path: Path) -> None:
    with start_sim(tmp_path) as sim:
        async with nats_client(nats_server.url) as nc, running_agent(nc, nats_server.url, sim.url, "b-up4") as agent:
            await put_artifact(nc.jetstream(), "restart/1/9/0-a.png", SOURCE, "image/png")
            bound = binding("restart/1/9/0-a.png", "orch_restart.png")
            await run_with(nc, "b-up4", bound)
            assert len(agent.uploads) == 1
            await asyncio.to_thread(sim.restart)

            async def forgotten() -> bool:
                return len(agent.uploads) == 0 and agent._connected_once.is_set() and not agent._unreachable

            await wait_for(forgotten, what="the upload cache dropped after the server came back")
            await run_with(nc, "b-up4", bound)
            assert agent.inputs_uploaded == 2
            assert await on_server(sim.url, "orch_restart.png") == SOURCE


async def test_several_inputs_of_one_job_are_each_uploaded_and_bound_to_their_own_node(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    other = _other_png()
    workflow = {
        "10": {"class_type": "LoadImage", "inputs": {"image": "placeholder.png"}},
        "11": {"class_type": "PreviewImage", "inputs": {"images": ["10", 0]}},
        "20": {"class_type": "LoadImage", "inputs": {"image": "placeholder.png"}},
        "21": {"class_type": "PreviewImage", "inputs": {"images": ["20", 0]}},
    }
    with start_sim(tmp_path) as sim:
        async with nats_client(nats_server.url) as nc, running_agent(nc, nats_server.url, sim.url, "b-up5") as agent:
            js = nc.jetstream()
            await put_artifact(js, "many/1/9/0-a.png", SOURCE, "image/png")
            await put_artifact(js, "many/1/9/1-b.png", other, "image/png")
            command = run_command(
                "b-up5",
                workflow,
                inputs=[
                    binding("many/1/9/0-a.png", "orch_many_a.png"),
                    InputBinding(
                        artifact_id="many/1/9/1-b.png", node_id="20", input_name="image", filename="orch_many_b.png"
                    ),
                ],
            )
            await send(nc, command)
            events = await job_events(nc, command.job_id, ended)
            assert events[-1].type == "job.succeeded", events[-1]
            assert agent.inputs_uploaded == 2
            assert await on_server(sim.url, "orch_many_a.png") == SOURCE
            assert await on_server(sim.url, "orch_many_b.png") == other
            stored = {e.node_id for e in events if e.type == "job.output_stored"}
            assert stored == {"11", "21"}


async def test_an_input_that_fails_its_digest_fails_the_attempt_and_leaves_no_file_on_the_server(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    big = SOURCE * (3 * CHUNK_SIZE // len(SOURCE) + 1)  # several chunks, so the upload is under way when it fails
    with start_sim(tmp_path) as sim:
        async with nats_client(nats_server.url) as nc, running_agent(nc, nats_server.url, sim.url, "b-up6") as agent:
            js = nc.jetstream()
            await put_artifact(js, "forged/1/9/0-a.png", big, "image/png")
            info = await read_artifact_info(js, "forged/1/9/0-a.png")
            forged = {
                **info.raw,
                "digest": "SHA-256=" + base64.urlsafe_b64encode(hashlib.sha256(b"x").digest()).decode(),
            }
            meta = f"$O.{subjects.ARTIFACTS_BUCKET}.M.{base64.urlsafe_b64encode(b'forged/1/9/0-a.png').decode()}"
            await js.publish(meta, json.dumps(forged).encode(), headers={"Nats-Rollup": "sub"})
            command = run_command("b-up6", load_and_scale(), inputs=[binding("forged/1/9/0-a.png", "orch_forged.png")])
            await send(nc, command)
            events = await job_events(nc, command.job_id, ended)
            assert [e.type for e in events] == ["job.attempt_failed"]
            assert events[0].reason is FailureReason.UPLOAD_FAILED and "digest mismatch" in events[0].message
            assert await on_server(sim.url, "orch_forged.png") is None
            assert agent.inputs_uploaded == 0 and len(agent.uploads) == 0


async def test_an_input_replaced_on_the_server_by_other_bytes_is_uploaded_again(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    with start_sim(tmp_path) as sim:
        async with nats_client(nats_server.url) as nc, running_agent(nc, nats_server.url, sim.url, "b-up7") as agent:
            await put_artifact(nc.jetstream(), "replaced/1/9/0-a.png", SOURCE, "image/png")
            bound = binding("replaced/1/9/0-a.png", "orch_replaced.png")
            await run_with(nc, "b-up7", bound)
            (sim.data_dir / "input" / "orch_replaced.png").write_bytes(SOURCE[: len(SOURCE) // 2])
            await run_with(nc, "b-up7", bound)
            assert agent.inputs_uploaded == 2
            assert await on_server(sim.url, "orch_replaced (1).png") == SOURCE, "ComfyUI kept the stranger's file"
