"""The agent on the real wire: a real nats-server, real `orch sim` servers, and this test as the scheduler."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from nats.aio.msg import Msg

from orch_common.contracts import subjects
from orch_common.contracts.commands import CancelJob
from orch_common.contracts.events import ArtifactKind, BackendRegistered, FailureReason, InputBinding
from orch_common.contracts.live import BackendMetrics, LivePreview, LiveProgress
from orch_common.natsutil import NatsServer
from orch_common.natsutil.objects import get_artifact, put_artifact
from tests.agent.harness import (
    ended,
    has,
    heartbeat,
    job_events,
    record_calls,
    run_command,
    running_agent,
    send,
    start_then_leave,
    wait_for,
)
from tests.helpers import FIXTURES
from tests.helpers.nats import nats_client
from tests.helpers.sim import start_sim
from tests.helpers.workflows import basic, txt2img

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]


async def test_a_run_job_is_started_stored_and_succeeded_with_the_sims_bytes(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    with start_sim(tmp_path) as sim:
        async with nats_client(nats_server.url) as nc, running_agent(nc, nats_server.url, sim.url, "b-basic"):
            command = run_command("b-basic", basic("agent_basic"))
            await send(nc, command)
            events = await job_events(nc, command.job_id, ended)
            types = [e.type for e in events]
            assert types[0] == "job.started" and types[-1] == "job.succeeded", types
            assert events[0].prompt_id == command.prompt_id and not events[0].partial
            [stored] = [e for e in events if e.type == "job.output_stored"]
            assert types.index("job.output_stored") < types.index("job.succeeded")
            assert stored.artifact_id == f"{command.job_id}/1/4/0-{stored.filename}"
            assert stored.kind is ArtifactKind.IMAGE and stored.content_type == "image/png"
            data, content_type = await get_artifact(nc.jetstream(), stored.artifact_id)
            async with httpx.AsyncClient(base_url=sim.url) as http:
                view = await http.get(
                    "/view", params={"filename": stored.filename, "subfolder": stored.subfolder, "type": "output"}
                )
            assert data == view.content and content_type == "image/png"
            assert stored.size == len(data) and stored.sha256 == hashlib.sha256(data).hexdigest()
            store = await nc.jetstream().object_store(subjects.ARTIFACTS_BUCKET)
            assert (await store.get(stored.artifact_id)).data == data


def long_job(steps: int = 30) -> dict:
    return txt2img(seed=7, steps=steps)


async def test_registration_heartbeat_and_metrics_describe_the_sim(nats_server: NatsServer, tmp_path: Path) -> None:
    with start_sim(tmp_path, demo_models=True, gpu_name="Sim RTX", vram="24GB") as sim:
        async with nats_client(nats_server.url) as nc:
            metrics: asyncio.Queue[BackendMetrics] = asyncio.Queue()

            async def on_metrics(msg: Msg) -> None:
                metrics.put_nowait(BackendMetrics.model_validate_json(msg.data))

            await nc.subscribe(subjects.live_backend_metrics("b-reg"), cb=on_metrics)
            async with running_agent(nc, nats_server.url, sim.url, "b-reg") as agent:
                beat = await heartbeat(nc, "b-reg")
                assert beat is not None and beat["comfy_url"] == sim.url
                registration = BackendRegistered.model_validate(beat["registration"])
                caps = registration.capabilities
                assert {"KSampler", "SaveImage", "LoadImage"} <= set(caps.node_classes)
                assert "sim-sd15.safetensors" in caps.models["checkpoints"]
                assert caps.gpu_name == "Sim RTX" and caps.vram_total
                sample = await asyncio.wait_for(metrics.get(), 10)
                assert sample.backend_id == "b-reg" and sample.reachable and sample.queue_remaining == 0
                assert sample.gpus and sample.gpus[0].name == "Sim RTX" and sample.ram_total
                assert agent.registration == registration
            assert await heartbeat(nc, "b-reg") is None, "a stopped agent deletes its KV key"


async def test_inputs_are_fetched_from_the_object_store_uploaded_and_patched_in(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    source = (FIXTURES / "upload_source.png").read_bytes()
    workflow = json.loads((FIXTURES / "workflows" / "api_loadimage_scale.json").read_text())
    with start_sim(tmp_path) as sim:
        async with nats_client(nats_server.url) as nc, running_agent(nc, nats_server.url, sim.url, "b-in"):
            await put_artifact(nc.jetstream(), "upstream/1/9/0-src.png", source, "image/png")
            binding = InputBinding(
                artifact_id="upstream/1/9/0-src.png", node_id="10", input_name="image", filename="sha256-abc.png"
            )
            command = run_command("b-in", workflow, inputs=[binding])
            await send(nc, command)
            events = await job_events(nc, command.job_id, ended)
            assert events[-1].type == "job.succeeded", events[-1]
            async with httpx.AsyncClient(base_url=sim.url) as http:
                uploaded = await http.get("/view", params={"filename": "sha256-abc.png", "type": "input"})
            assert uploaded.content == source
            [stored] = [e for e in events if e.type == "job.output_stored"]
            assert stored.subfolder == "fx_load" and stored.node_id == "12"
            again = run_command("b-in", workflow, inputs=[binding])
            await send(nc, again)
            assert (await job_events(nc, again.job_id, ended))[-1].type == "job.succeeded"
            async with httpx.AsyncClient(base_url=sim.url) as http:
                renamed = await http.get("/view", params={"filename": "sha256-abc (1).png", "type": "input"})
            assert renamed.status_code == 404, "the same file under the same name is reused, not renamed"


async def test_a_validation_error_fails_the_attempt_with_comfyuis_message_and_node(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    workflow = basic("agent_invalid")
    workflow["2"]["inputs"]["blur_radius"] = 999
    with start_sim(tmp_path) as sim:
        async with nats_client(nats_server.url) as nc, running_agent(nc, nats_server.url, sim.url, "b-val"):
            command = run_command("b-val", workflow)
            await send(nc, command)
            events = await job_events(nc, command.job_id, ended)
            [failed] = events
            assert failed.type == "job.attempt_failed" and failed.reason is FailureReason.VALIDATION
            assert failed.node_id == "2" and failed.node_type == "ImageBlur"
            assert "blur_radius" in failed.message and failed.details["node_errors"]


async def test_a_node_error_fails_the_attempt_with_the_exception_message(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    with start_sim(tmp_path, fail_at_node="3") as sim:
        async with nats_client(nats_server.url) as nc, running_agent(nc, nats_server.url, sim.url, "b-err"):
            command = run_command("b-err", basic("agent_err"))
            await send(nc, command)
            events = await job_events(nc, command.job_id, ended)
            failed = events[-1]
            assert failed.type == "job.attempt_failed" and failed.reason is FailureReason.NODE_ERROR
            assert failed.node_id == "3" and failed.message
            assert not has("job.succeeded")(events)


async def test_cancel_interrupts_or_dequeues_only_that_prompt(nats_server: NatsServer, tmp_path: Path) -> None:
    with start_sim(tmp_path, demo_models=True, step_seconds=0.1) as sim:
        async with nats_client(nats_server.url) as nc, running_agent(nc, nats_server.url, sim.url, "b-cancel"):
            running = run_command("b-cancel", long_job(60))
            survivor = run_command("b-cancel", basic("agent_survivor"))
            pending = run_command("b-cancel", basic("agent_pending"))
            for command in (running, survivor, pending):
                await send(nc, command)
            await job_events(nc, running.job_id, has("job.progressed"))
            await send(nc, CancelJob(**pending.model_dump(include={"backend_id", "job_id", "attempt", "prompt_id"})))
            assert (await job_events(nc, pending.job_id, ended))[-1].type == "job.cancelled"
            await send(nc, CancelJob(**running.model_dump(include={"backend_id", "job_id", "attempt", "prompt_id"})))
            cancelled = await job_events(nc, running.job_id, ended)
            assert cancelled[-1].type == "job.cancelled"
            assert (await job_events(nc, survivor.job_id, ended))[-1].type == "job.succeeded"
            async with httpx.AsyncClient(base_url=sim.url) as http:
                history = (await http.get("/history")).json()
            assert survivor.prompt_id in history and pending.prompt_id not in history
            assert history[running.prompt_id]["status"]["status_str"] == "error"


async def test_a_killed_sim_fails_the_attempt_and_reports_nothing_done(nats_server: NatsServer, tmp_path: Path) -> None:
    with start_sim(tmp_path, demo_models=True, step_seconds=0.1) as sim:
        async with nats_client(nats_server.url) as nc, running_agent(nc, nats_server.url, sim.url, "b-kill"):
            command = run_command("b-kill", long_job(60))
            await send(nc, command)
            await job_events(nc, command.job_id, has("job.progressed"))
            sim.kill()
            events = await job_events(nc, command.job_id, ended)
            assert events[-1].type == "job.attempt_failed"
            assert events[-1].reason in (FailureReason.BACKEND_LOST, FailureReason.PROMPT_LOST)
            assert not has("job.succeeded")(events)

            async def unreachable() -> bool:
                beat = await heartbeat(nc, "b-kill")
                return bool(beat and beat["status"] == "unreachable")

            await wait_for(unreachable, what="heartbeat status unreachable")
            sim.start()

            async def ready() -> bool:
                beat = await heartbeat(nc, "b-kill")
                return bool(beat and beat["status"] == "ready")

            await wait_for(ready, what="heartbeat status ready again")


async def test_a_sim_restarted_empty_loses_the_prompt(nats_server: NatsServer, tmp_path: Path) -> None:
    with start_sim(tmp_path, demo_models=True, step_seconds=0.1) as sim:
        async with (
            nats_client(nats_server.url) as nc,
            running_agent(nc, nats_server.url, sim.url, "b-restart", unreachable_after_s=60) as agent,
        ):
            command = run_command("b-restart", long_job(60))
            await send(nc, command)
            await job_events(nc, command.job_id, has("job.progressed"))
            sim.restart(hard=True)
            events = await job_events(nc, command.job_id, ended)
            assert events[-1].type == "job.attempt_failed" and events[-1].reason is FailureReason.PROMPT_LOST
            assert not has("job.succeeded")(events)

            async def forgotten() -> bool:  # the attempt's worker drops the run just after publishing
                return not agent.runs

            await wait_for(forgotten, what="the lost attempt to be forgotten")


async def test_a_submission_refused_while_comfyui_restarts_is_made_again_once_it_answers(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    with start_sim(tmp_path) as sim:
        async with (
            nats_client(nats_server.url) as nc,
            running_agent(nc, nats_server.url, sim.url, "b-back", unreachable_after_s=10) as agent,
        ):
            submits = record_calls(agent.hot, "submit_prompt")
            sim.kill()
            command = run_command("b-back", basic("agent_back"))
            await send(nc, command)

            async def refused() -> bool:
                return len(submits) == 1

            await wait_for(refused, what="the POST /prompt the stopped server refuses")
            sim.start()
            events = await job_events(nc, command.job_id, ended)
            types = [e.type for e in events]
            assert types[0] == "job.started" and types[-1] == "job.succeeded", types
            assert "job.attempt_failed" not in types
            assert len(submits) == 2
            async with httpx.AsyncClient(base_url=sim.url) as http:
                assert command.prompt_id in (await http.get("/history")).json()


async def test_a_redelivered_command_does_not_submit_twice(nats_server: NatsServer, tmp_path: Path) -> None:
    with start_sim(tmp_path, demo_models=True, step_seconds=0.05) as sim:
        async with nats_client(nats_server.url) as nc:
            command = run_command("b-redeliver", long_job(40))
            await start_then_leave(nc, nats_server.url, sim.url, command)
            await send(nc, command, msg_id="redelivered-" + command.command_id)
            async with running_agent(nc, nats_server.url, sim.url, "b-redeliver"):
                consumer = subjects.agent_consumer("b-redeliver")

                async def handled() -> bool:
                    info = await nc.jetstream().consumer_info(subjects.COMMANDS_STREAM, consumer)
                    return info.num_pending == 0 and info.num_ack_pending == 0

                await wait_for(handled, what="the redelivered command acked")
                async with httpx.AsyncClient(base_url=sim.url) as http:
                    queue = (await http.get("/queue")).json()
                    ids = [item[1] for item in queue["queue_running"] + queue["queue_pending"]]
                    history = (await http.get("/history")).json()
                assert ids.count(command.prompt_id) + (command.prompt_id in history) == 1
                events = await job_events(nc, command.job_id, ended)
                assert events[-1].type == "job.succeeded"


async def test_a_first_delivery_seen_whole_on_the_socket_neither_asks_comfyui_first_nor_reads_history_after(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    with start_sim(tmp_path) as sim:
        async with nats_client(nats_server.url) as nc, running_agent(nc, nats_server.url, sim.url, "b-first") as agent:
            asked = record_calls(agent.comfy, "reconcile")
            read = record_calls(agent.hot, "history")
            workflow = basic("agent_first")
            for cached in (False, True):  # the second time every node is served from ComfyUI's cache
                command = run_command("b-first", workflow)
                await send(nc, command)
                events = await job_events(nc, command.job_id, ended)
                assert events[-1].type == "job.succeeded"
                executed = [e for e in events if e.type == "job.node_executed"]
                assert executed and all(e.cached is cached for e in executed)
                [stored] = [e for e in events if e.type == "job.output_stored"]
                data, _ = await get_artifact(nc.jetstream(), stored.artifact_id)
                assert data and stored.size == len(data)
            assert asked == [] and read == []


async def test_a_prompt_adopted_from_the_queue_by_a_new_agent_is_settled_from_history(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    with start_sim(tmp_path, demo_models=True, step_seconds=0.05) as sim:
        async with nats_client(nats_server.url) as nc:
            command = run_command("b-adopt", long_job(60))
            await start_then_leave(nc, nats_server.url, sim.url, command)
            # the next agent finds the prompt running in ComfyUI's queue
            async with running_agent(nc, nats_server.url, sim.url, "b-adopt") as agent:
                read = record_calls(agent.hot, "history")
                events = await job_events(nc, command.job_id, ended)
            assert events[-1].type == "job.succeeded"
            assert [e.node_id for e in events if e.type == "job.output_stored"] == ["9"]
            assert command.prompt_id in read


async def test_no_progress_for_twice_the_expected_time_is_a_hang(nats_server: NatsServer, tmp_path: Path) -> None:
    with start_sim(tmp_path, hang_at_node="3") as sim:
        async with nats_client(nats_server.url) as nc, running_agent(nc, nats_server.url, sim.url, "b-hang"):
            command = run_command("b-hang", basic("agent_hang"), expected_seconds=0.5)
            await send(nc, command)
            events = await job_events(nc, command.job_id, ended)
            assert events[-1].type == "job.attempt_failed" and events[-1].reason is FailureReason.HUNG

            async def idle() -> bool:
                async with httpx.AsyncClient(base_url=sim.url) as http:
                    queue = (await http.get("/queue")).json()
                return not queue["queue_running"] and not queue["queue_pending"]

            await wait_for(idle, what="the hung prompt interrupted")


async def test_sigterm_stops_taking_commands_and_drains_the_running_prompt(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    with start_sim(tmp_path, demo_models=True, step_seconds=0.05) as sim:
        async with nats_client(nats_server.url) as nc:
            log = (tmp_path / "agent.log").open("wb")
            args = ["agent", "--nats-url", nats_server.url, "--comfy-url", sim.url, "--id", "b-term"]
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "orch_cli", *args, stdout=log, stderr=subprocess.STDOUT
            )
            try:

                async def ready() -> bool:
                    beat = await heartbeat(nc, "b-term")
                    return bool(beat and beat["status"] == "ready")

                await wait_for(ready, what="the agent process ready")
                command = run_command("b-term", long_job(30))
                await send(nc, command)
                await job_events(nc, command.job_id, has("job.started"))
                proc.send_signal(signal.SIGTERM)
                await asyncio.sleep(1.0)  # past the agent's last pull request
                late = run_command("b-term", basic("agent_late"))
                await send(nc, late)
                events = await job_events(nc, command.job_id, ended)
                assert events[-1].type == "job.succeeded"
                assert await asyncio.wait_for(proc.wait(), 30) == 0
                assert await heartbeat(nc, "b-term") is None
                info = await nc.jetstream().consumer_info(subjects.COMMANDS_STREAM, subjects.agent_consumer("b-term"))
                assert info.num_pending == 1, "the command sent after SIGTERM is left for the next agent"
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
                log.close()


async def test_a_partly_valid_prompt_starts_partial_and_stores_the_outputs_it_makes(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    recorded = json.loads((FIXTURES / "prompt_error_partial_valid_outputs.json").read_text())
    workflow = recorded["request"]["json"]["prompt"]
    with start_sim(tmp_path) as sim:
        async with nats_client(nats_server.url) as nc, running_agent(nc, nats_server.url, sim.url, "b-partial"):
            command = run_command("b-partial", workflow)
            await send(nc, command)
            events = await job_events(nc, command.job_id, ended)
            started = events[0]
            assert started.type == "job.started" and started.partial and "4" in started.node_errors
            assert events[-1].type == "job.succeeded"
            assert {e.node_id for e in events if e.type == "job.output_stored"} == {"3"}


async def test_progress_and_previews_stream_live_while_durable_progress_is_coalesced(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    with start_sim(tmp_path, demo_models=True, step_seconds=0.05) as sim:
        async with nats_client(nats_server.url) as nc, running_agent(nc, nats_server.url, sim.url, "b-live"):
            command = run_command("b-live", long_job(20))
            progress: list[LiveProgress] = []
            previews: list[LivePreview] = []

            async def on_progress(msg: Msg) -> None:
                progress.append(LiveProgress.model_validate_json(msg.data))

            async def on_preview(msg: Msg) -> None:
                previews.append(LivePreview.model_validate_json(msg.data))

            await nc.subscribe(subjects.live_job(command.job_id, "progress"), cb=on_progress)
            await nc.subscribe(subjects.live_job(command.job_id, "preview"), cb=on_preview)
            await send(nc, command)
            events = await job_events(nc, command.job_id, ended)
            assert events[-1].type == "job.succeeded"
            sampler = [p for p in progress if p.node_id == "3" and p.max == 20]
            assert [p.value for p in sampler][-1] == 20 and len({p.value for p in sampler}) == 20
            assert all(p.prompt_id == command.prompt_id and p.sent_at > 1e9 for p in progress)
            durable = [e for e in events if e.type == "job.progressed"]
            assert 0 < len(durable) < len(progress)
            assert [e.seq for e in durable] == sorted({e.seq for e in durable})
            assert any(e.node_id == "3" and e.value == 20 for e in durable), "the last value is always kept"
            assert previews and all(p.node_id == "3" and p.data_b64 for p in previews)
            assert len(previews) < 20, "previews are throttled"


async def test_changed_capabilities_are_registered_again(nats_server: NatsServer, tmp_path: Path) -> None:
    with start_sim(tmp_path, models=["checkpoints=first.safetensors"]) as sim:
        async with (
            nats_client(nats_server.url) as nc,
            running_agent(nc, nats_server.url, sim.url, "b-caps", capabilities_check_s=0.5) as agent,
        ):
            assert agent.registration is not None
            assert "first.safetensors" in agent.registration.capabilities.models["checkpoints"]
            sim.options["models"] = ["checkpoints=second.safetensors"]
            await asyncio.to_thread(sim.restart, False)

            async def registered_again() -> bool:
                beat = await heartbeat(nc, "b-caps")
                if not beat or not beat["registration"]:
                    return False
                caps = BackendRegistered.model_validate(beat["registration"]).capabilities
                return "second.safetensors" in caps.models.get("checkpoints", [])

            await wait_for(registered_again, what="a registration with the new model")
            js = nc.jetstream()
            sub = await js.subscribe(subjects.backend_event("b-caps", "registered"), ordered_consumer=True)
            seen = [BackendRegistered.model_validate_json((await sub.next_msg(timeout=5)).data) for _ in range(2)]
            await sub.unsubscribe()
            assert seen[0].capabilities.object_info_hash != seen[1].capabilities.object_info_hash


async def test_a_text_input_is_patched_in_and_a_text_output_is_stored_as_text(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    workflow = json.loads((FIXTURES / "workflows" / "api_text_preview_any.json").read_text())
    with start_sim(tmp_path) as sim:
        async with nats_client(nats_server.url) as nc, running_agent(nc, nats_server.url, sim.url, "b-text"):
            js = nc.jetstream()
            await put_artifact(js, "upstream/1/7/0-text.txt", b"route 66 to 99", "text/plain")
            binding = InputBinding(
                artifact_id="upstream/1/7/0-text.txt",
                node_id="1",
                input_name="value",
                filename="unused.txt",
                kind=ArtifactKind.TEXT,
                as_text=True,
            )
            command = run_command("b-text", workflow, inputs=[binding])
            await send(nc, command)
            events = await job_events(nc, command.job_id, ended)
            assert events[-1].type == "job.succeeded", events[-1]
            [stored] = [e for e in events if e.type == "job.output_stored"]
            assert stored.kind is ArtifactKind.TEXT and stored.content_type == "text/plain"
            assert await get_artifact(js, stored.artifact_id) == (b"66", "text/plain")
