"""The live stream: a snapshot on connect, coalesced progress (last value wins), terminal states always delivered."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import httpx
import pytest
from nats.aio.client import Client
from websockets.asyncio.client import ClientConnection, connect

from orch_api.coalesce import Outbox
from orch_common.contracts import subjects
from orch_common.contracts.events import JobScheduled, JobStarted, JobSubmitted, JobSucceeded
from orch_common.contracts.live import BackendMetrics, GpuMetrics, LivePreview, LiveProgress
from orch_common.contracts.projects import ProjectDocument
from orch_common.contracts.runs import RunCancellationRequested, RunItemRetryRequested, RunRequested
from tests.api.conftest import BASIC_CLASSES, ApiServer, FakeScheduler, job_view, register_backend

pytestmark = pytest.mark.asyncio(loop_scope="module")

WORKFLOW = {"1": {"class_type": "EmptyImage", "inputs": {}}}


async def _receive_until(ws: ClientConnection, done: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            seen.append(message)
            if done(message):
                return seen


async def _publish_events(nc: Client, *events: Any) -> None:
    js = nc.jetstream()
    for event in events:
        await js.publish(event.subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.event_id})


async def test_a_new_client_gets_a_snapshot_of_backends_and_unfinished_jobs(api: ApiServer, nc: Client) -> None:
    await register_backend(nc, "gpu-live", "http://127.0.0.1:9", BASIC_CLASSES)
    async with connect(f"{api.ws_url}/api/live") as watcher:
        assert json.loads(await watcher.recv())["type"] == "snapshot"
        await _publish_events(nc, JobSubmitted(job_id="open1", workflow=WORKFLOW))
        await _receive_until(watcher, lambda m: m["type"] == "job" and m["job"]["id"] == "open1")
    async with connect(f"{api.ws_url}/api/live") as ws:
        first = json.loads(await ws.recv())
    assert first["type"] == "snapshot"
    backend = next(b for b in first["backends"] if b["id"] == "gpu-live")
    assert backend["comfy_url"] == "http://127.0.0.1:9"
    assert [j["state"] for j in first["jobs"] if j["id"] == "open1"] == ["queued"]


async def test_a_burst_of_progress_is_coalesced_and_its_last_value_arrives(api: ApiServer, nc: Client) -> None:
    async with connect(f"{api.ws_url}/api/live") as ws:
        assert json.loads(await ws.recv())["type"] == "snapshot"  # from now on the outbox is attached
        for i in range(100):
            tick = LiveProgress(
                job_id="burst",
                attempt=1,
                backend_id="gpu-live",
                prompt_id="p",
                node_id="3",
                value=i,
                max=99,
                sent_at=time.time(),
            )
            await nc.publish(subjects.live_job("burst", "progress"), tick.model_dump_json().encode())
        await nc.flush()
        seen = await _receive_until(ws, lambda m: m.get("job_id") == "burst" and m["value"] == 99)
    progress = [m for m in seen if m["type"] == "progress" and m["job_id"] == "burst"]
    assert len(progress) <= 10, f"{len(progress)} of 100 progress messages were delivered"
    assert progress[-1] == {**progress[-1], "node_id": "3", "value": 99, "max": 99}


async def test_a_terminal_state_is_always_delivered(api: ApiServer, nc: Client) -> None:
    async with connect(f"{api.ws_url}/api/live") as ws:
        assert json.loads(await ws.recv())["type"] == "snapshot"
        await _publish_events(
            nc,
            JobSubmitted(job_id="fast1", workflow=WORKFLOW),
            JobScheduled(job_id="fast1", attempt=1, backend_id="gpu-live", prompt_id="p1"),
            JobStarted(job_id="fast1", attempt=1, backend_id="gpu-live", prompt_id="p1"),
            JobSucceeded(job_id="fast1", attempt=1, backend_id="gpu-live"),
        )
        seen = await _receive_until(ws, lambda m: m["type"] == "job" and m["job"]["state"] == "succeeded")
    last = seen[-1]["job"]
    assert last["id"] == "fast1" and last["backend"] == "gpu-live" and last["attempt"] == 1


async def test_metrics_reach_live_clients(api: ApiServer, nc: Client) -> None:
    metrics = BackendMetrics(
        backend_id="gpu-live",
        at="2026-01-01T00:00:00Z",
        reachable=True,
        queue_remaining=3,
        gpus=[GpuMetrics(utilization=87.0, vram_used=1, vram_total=2, temperature=61.0)],
    )
    async with connect(f"{api.ws_url}/api/live") as ws:
        assert json.loads(await ws.recv())["type"] == "snapshot"
        await nc.publish(subjects.live_backend_metrics("gpu-live"), metrics.model_dump_json().encode())
        seen = await _receive_until(ws, lambda m: m["type"] == "metrics")
    assert seen[-1]["backend_id"] == "gpu-live" and seen[-1]["queue_remaining"] == 3


async def test_the_same_stream_is_served_as_server_sent_events(api: ApiServer) -> None:
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as http, http.stream("GET", "/api/live/sse") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                message = json.loads(line[6:])
                if message["type"] == "snapshot":
                    assert any(b["id"] == "gpu-live" for b in message["backends"])
                    break


async def test_a_slow_client_backlog_stays_bounded_and_keeps_state_messages() -> None:
    outbox = Outbox(rate=10, max_pending=50)
    for i in range(20):
        outbox.offer(("job", f"j{i}"), ("job", f"j{i}"), {"type": "job", "job": {"id": f"j{i}", "state": "failed"}})
    for i in range(5000):
        outbox.offer(("progress", f"p{i}"), ("job", f"p{i}"), {"type": "progress", "job_id": f"p{i}"})
    assert len(outbox) <= 50
    assert outbox.coalesced >= 5000 - 50
    delivered = [await outbox.next() for _ in range(len(outbox))]
    assert {m["job"]["id"] for m in delivered if m["type"] == "job"} == {f"j{i}" for i in range(20)}


async def test_repeated_updates_of_one_slot_keep_only_the_latest() -> None:
    outbox = Outbox(rate=10, max_pending=50)
    outbox.offer(("progress", "a"), ("job", "a"), {"value": 1})
    first = await outbox.next()
    for v in range(2, 50):
        outbox.offer(("progress", "a"), ("job", "a"), {"value": v})
    assert len(outbox) == 1
    assert first == {"value": 1} and await outbox.next() == {"value": 49}


async def test_a_terminal_job_state_takes_its_jobs_next_turn_first_and_supersedes_the_waiting_progress() -> None:
    now = [100.0]
    outbox = Outbox(rate=5, max_pending=50, clock=lambda: now[0])
    outbox.offer(("progress", "a"), ("job", "a"), {"type": "progress", "job_id": "a", "value": 1})
    assert (await outbox.next())["value"] == 1
    outbox.offer(("progress", "a"), ("job", "a"), {"type": "progress", "job_id": "a", "value": 2})
    outbox.offer(("preview", "a"), ("job", "a"), {"type": "preview", "job_id": "a"})
    outbox.offer(("job", "a"), ("job", "a"), {"type": "job", "job": {"id": "a", "state": "succeeded"}})
    outbox.offer(("progress", "b"), ("job", "b"), {"type": "progress", "job_id": "b", "value": 1})
    assert (await outbox.next())["job_id"] == "b"  # another job's turn is not held up
    message, wait = outbox._take_due()
    assert message is None and 0 < wait <= 0.2 + 1e-9  # the end waits for a's next turn: never above 5 per second
    now[0] += wait
    done = {"type": "job", "job": {"id": "a", "state": "succeeded"}}
    assert await asyncio.wait_for(outbox.next(), timeout=10) == done
    assert len(outbox) == 0 and outbox.coalesced == 2


async def test_no_job_gets_more_than_rate_messages_in_any_second_even_with_its_end() -> None:
    now = [0.0]
    outbox = Outbox(rate=10, max_pending=50, clock=lambda: now[0])
    sent: list[tuple[float, dict]] = []

    def drain() -> None:
        while (message := outbox._take_due()[0]) is not None:
            sent.append((now[0], message))

    for tick in range(95):  # 30 progress messages a second for ~3 s, then the end
        now[0] = tick / 30
        outbox.offer(("progress", "a"), ("job", "a"), {"type": "progress", "job_id": "a", "value": tick})
        if tick == 94:
            outbox.offer(("job", "a"), ("job", "a"), {"type": "job", "job": {"id": "a", "state": "succeeded"}})
        drain()
    while len(outbox):
        now[0] += 0.01
        drain()
    times = [t for t, _ in sent]
    assert all(b - a >= 0.1 - 1e-9 for a, b in itertools.pairwise(times))
    assert sent[-1][1]["type"] == "job" and sent[-1][0] - 94 / 30 <= 0.1 + 1e-9


async def test_a_running_job_state_still_waits_for_its_rate_key() -> None:
    now = [100.0]
    outbox = Outbox(rate=5, max_pending=50, clock=lambda: now[0])
    outbox.offer(("progress", "a"), ("job", "a"), {"type": "progress", "job_id": "a", "value": 1})
    await outbox.next()
    outbox.offer(("job", "a"), ("job", "a"), {"type": "job", "job": {"id": "a", "state": "running"}})
    assert outbox._take_due()[0] is None
    now[0] += 0.2
    assert (await outbox.next())["job"]["state"] == "running"


async def test_previews_reach_live_clients(api: ApiServer, nc: Client) -> None:
    preview = LivePreview(
        job_id="pv1", attempt=1, backend_id="gpu-live", node_id="3", content_type="image/jpeg", data_b64="/9j/AA=="
    )
    async with connect(f"{api.ws_url}/api/live") as ws:
        assert json.loads(await ws.recv())["type"] == "snapshot"
        await nc.publish(subjects.live_job("pv1", "preview"), preview.model_dump_json().encode())
        seen = await _receive_until(ws, lambda m: m["type"] == "preview")
    assert seen[-1] == {
        **seen[-1],
        "job_id": "pv1",
        "node_id": "3",
        "content_type": "image/jpeg",
        "data_b64": "/9j/AA==",
    }


async def test_a_job_that_started_before_the_api_ends_with_the_schedulers_outputs(
    api: ApiServer, nc: Client, scheduler: FakeScheduler
) -> None:
    output = {
        "artifact_id": "old1/1/9/0-a.png",
        "node_id": "9",
        "filename": "a.png",
        "subfolder": "",
        "type": "output",
        "kind": "image",
        "content_type": "image/png",
    }
    scheduler.jobs["old1"] = job_view("old1", "succeeded", backend="gpu-live", outputs=[output])
    async with connect(f"{api.ws_url}/api/live") as ws:
        assert json.loads(await ws.recv())["type"] == "snapshot"
        await _publish_events(nc, JobSucceeded(job_id="old1", attempt=1, backend_id="gpu-live"))
        seen = await _receive_until(ws, lambda m: m["type"] == "job" and m["job"]["outputs"])
    job = seen[-1]["job"]
    assert job["state"] == "succeeded" and job["outputs"][0]["artifact_id"] == "old1/1/9/0-a.png"
    assert not any(key.startswith("_") for key in job)


async def test_a_runs_job_says_its_run_graph_node_and_item_in_every_job_message(api: ApiServer, nc: Client) -> None:
    async with connect(f"{api.ws_url}/api/live") as ws:
        assert json.loads(await ws.recv())["type"] == "snapshot"
        await _publish_events(
            nc,
            JobSubmitted(
                job_id="runjob1",
                workflow=WORKFLOW,
                project_id="proj1",
                run_id="run1",
                graph_node_id="gen",
                labels={"item": "2"},
            ),
            JobScheduled(job_id="runjob1", attempt=1, backend_id="gpu-live", prompt_id="p9"),
            JobSucceeded(job_id="runjob1", attempt=1, backend_id="gpu-live"),
        )
        seen = await _receive_until(ws, lambda m: m["type"] == "job" and m["job"]["state"] == "succeeded")
    jobs = [m["job"] for m in seen if m["type"] == "job" and m["job"]["id"] == "runjob1"]
    assert jobs and all(
        (j["project_id"], j["run_id"], j["graph_node_id"], j["labels"]) == ("proj1", "run1", "gen", {"item": "2"})
        for j in jobs
    )


async def test_a_runs_request_retry_and_cancellation_reach_live_clients_without_the_document(
    api: ApiServer, nc: Client
) -> None:
    document = ProjectDocument(name="live runs")
    async with connect(f"{api.ws_url}/api/live") as ws:
        assert json.loads(await ws.recv())["type"] == "snapshot"
        await _publish_events(
            nc,
            RunRequested(run_id="run2", project_id="proj2", project_version=1, document=document),
            RunItemRetryRequested(run_id="run2", item=0, nonce="a"),
            RunCancellationRequested(run_id="run2", nonce="b"),
        )
        seen = await _receive_until(ws, lambda m: m["type"] == "run" and m["run"]["event"] == "cancellation_requested")
    runs = [m["run"] for m in seen if m["type"] == "run"]
    assert runs == [
        {"id": "run2", "project_id": "proj2", "event": "requested", "item": None},
        {"id": "run2", "project_id": "proj2", "event": "item_retry_requested", "item": 0},
        {"id": "run2", "project_id": "proj2", "event": "cancellation_requested", "item": None},
    ]


async def test_a_reconnecting_client_finds_a_runs_unfinished_job_mapped_to_its_node_in_the_snapshot(
    api: ApiServer, nc: Client
) -> None:
    async with connect(f"{api.ws_url}/api/live") as watcher:
        assert json.loads(await watcher.recv())["type"] == "snapshot"
        await _publish_events(
            nc,
            JobSubmitted(
                job_id="runjob3",
                workflow=WORKFLOW,
                project_id="proj3",
                run_id="run3",
                graph_node_id="inv",
                labels={"item": "0"},
            ),
        )
        await _receive_until(watcher, lambda m: m["type"] == "job" and m["job"]["id"] == "runjob3")
    async with connect(f"{api.ws_url}/api/live") as ws:
        snapshot = json.loads(await ws.recv())
    job = next(j for j in snapshot["jobs"] if j["id"] == "runjob3")
    assert (job["run_id"], job["graph_node_id"], job["labels"]["item"]) == ("run3", "inv", "0")


async def test_an_outbox_remembers_only_the_rate_keys_active_lately_however_many_jobs_pass() -> None:
    now = [0.0]
    outbox = Outbox(rate=10, max_pending=2000, clock=lambda: now[0])
    most = 0
    for n in range(20_000):  # a day's worth of jobs, 30 of them sending in any one interval
        now[0] = n / 300
        outbox.offer(("job", str(n)), ("job", str(n)), {"type": "job", "job": {"id": str(n), "state": "running"}})
        assert (await outbox.next())["job"]["id"] == str(n)
        most = max(most, outbox.remembered_rate_keys)
    assert most <= 512
