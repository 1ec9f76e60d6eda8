"""The RPC server over real NATS request/reply: every verb answers an RpcReply; unknown ids are `not_found`."""

from __future__ import annotations

import json

from orch_common.contracts import subjects
from orch_common.contracts.projects import ProjectCreated, ProjectDocument, ProjectRenamed, ProjectSaved
from orch_common.contracts.rpc import BackendView, JobState, JobView, ListJobsResult, RpcReply, RpcVerb
from tests.scheduler.conftest import running_scheduler
from tests.scheduler.factories import submitted
from tests.scheduler.wire import consumer_drained, publish


async def call(nc, verb: RpcVerb, request: dict | None = None) -> RpcReply:
    msg = await nc.request(subjects.rpc(verb.value), json.dumps(request or {}).encode(), timeout=5)
    return RpcReply.model_validate_json(msg.data)


async def test_jobs_and_backends_are_served_from_the_live_state(nats_url, nc, agent, tmp_path):
    async with running_scheduler(nats_url, tmp_path / "events.duckdb"):
        gpu = await agent("gpu")
        await publish(nc, submitted("first", labels={"item": "0"}, run_id="r1"))
        await publish(nc, submitted("second", required_classes=["Nowhere"]))
        run = await gpu.next_command()
        await gpu.succeed(run)
        await consumer_drained(nc)

        got = JobView.model_validate((await call(nc, RpcVerb.JOBS_GET, {"job_id": "first"})).result)
        assert (got.state, got.backend, got.labels, got.run_id) == (JobState.SUCCEEDED, "gpu", {"item": "0"}, "r1")
        assert [(a.attempt, a.outcome) for a in got.attempts] == [(1, "succeeded")]

        listed = ListJobsResult.model_validate((await call(nc, RpcVerb.JOBS_LIST)).result)
        assert [j.id for j in listed.jobs] == ["second", "first"]  # newest first
        queued = ListJobsResult.model_validate((await call(nc, RpcVerb.JOBS_LIST, {"state": "queued"})).result)
        assert ([j.id for j in queued.jobs], queued.total) == (["second"], 1)
        by_run = ListJobsResult.model_validate((await call(nc, RpcVerb.JOBS_LIST, {"run_id": "r1"})).result)
        assert [j.id for j in by_run.jobs] == ["first"]

        history = (await call(nc, RpcVerb.JOBS_EVENTS, {"job_id": "first"})).result
        assert [e["type"] for e in history] == ["job.submitted", "job.scheduled", "job.started", "job.succeeded"]

        (backend,) = [BackendView.model_validate(b) for b in (await call(nc, RpcVerb.BACKENDS_LIST)).result]
        assert (backend.id, backend.status, backend.jobs_completed) == ("gpu", "online", 1)
        assert backend.capabilities["node_classes"] == ["EmptyImage", "SaveImage"]
        assert backend.last_seen is not None

        pong = (await call(nc, RpcVerb.PING)).result
        assert pong["pong"] is True and pong["jobs"] == 2


async def test_unknown_ids_and_bad_requests_get_stable_error_codes(nats_url, nc, tmp_path):
    async with running_scheduler(nats_url, tmp_path / "events.duckdb"):
        for verb in (RpcVerb.JOBS_GET, RpcVerb.JOBS_EVENTS):
            reply = await call(nc, verb, {"job_id": "nope"})
            assert reply.result is None and reply.error is not None and reply.error.code == "not_found"
        reply = await call(nc, RpcVerb.PROJECTS_GET, {"project_id": "nope"})
        assert reply.error is not None and reply.error.code == "not_found"
        reply = await call(nc, RpcVerb.JOBS_LIST, {"limit": 0})
        assert reply.error is not None and reply.error.code == "bad_request" and "limit" in reply.error.message
        raw = await nc.request(subjects.rpc(RpcVerb.JOBS_GET.value), b"{nope", timeout=5)
        assert RpcReply.model_validate_json(raw.data).error.code == "bad_request"


async def test_projects_are_listed_with_their_versions_and_documents_read_back_from_the_log(nats_url, nc, tmp_path):
    async with running_scheduler(nats_url, tmp_path / "events.duckdb"):
        await publish(nc, ProjectCreated(project_id="p1", document=ProjectDocument(name="Portraits")))
        await publish(
            nc, ProjectSaved(project_id="p1", version=2, document=ProjectDocument(name="Portraits", view={"zoom": 2}))
        )
        await publish(nc, ProjectRenamed(project_id="p1", name="Faces", nonce="n1"))
        await consumer_drained(nc)

        (listed,) = (await call(nc, RpcVerb.PROJECTS_LIST)).result
        assert (listed["id"], listed["name"], listed["version"]) == ("p1", "Faces", 2)
        versions = (await call(nc, RpcVerb.PROJECTS_VERSIONS, {"project_id": "p1"})).result
        assert [(v["version"], v["name"]) for v in versions] == [(1, "Portraits"), (2, "Portraits")]
        latest = (await call(nc, RpcVerb.PROJECTS_GET, {"project_id": "p1"})).result
        assert (latest["version"], latest["document"]["name"], latest["document"]["view"]) == (2, "Faces", {"zoom": 2})
        first = (await call(nc, RpcVerb.PROJECTS_GET, {"project_id": "p1", "version": 1})).result
        assert (first["version"], first["document"]["name"], first["deleted"]) == (1, "Portraits", False)
        missing = await call(nc, RpcVerb.PROJECTS_GET, {"project_id": "p1", "version": 7})
        assert missing.error is not None and missing.error.code == "not_found"
