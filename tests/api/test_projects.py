"""Projects are stored as project events and read back through the scheduler's `projects.*` RPC."""

from __future__ import annotations

from typing import Any

import pytest
from nats.aio.client import Client

from orch_common.contracts import subjects
from orch_common.contracts.events import parse_event
from tests.api.conftest import ApiServer, FakeScheduler, event_count

pytestmark = pytest.mark.asyncio(loop_scope="module")

DOC: dict[str, Any] = {"name": "Portraits", "nodes": [], "edges": []}


async def _last_event(nc: Client, subject: str) -> Any:
    msg = await nc.jetstream().get_last_msg(subjects.EVENTS_STREAM, subject)
    return parse_event(msg.data)


def _stored(scheduler: FakeScheduler, project_id: str, version: int, document: dict[str, Any]) -> None:
    full = {"format": "comfyui-orchestrator-project", "format_version": 1, "view": {}, **document}
    scheduler.projects.setdefault(project_id, []).append(
        {"id": project_id, "version": version, "document": full, "deleted": False}
    )


async def test_creating_a_project_records_project_created(api: ApiServer, nc: Client) -> None:
    async with api.client() as http:
        response = await http.post("/api/projects", json=DOC)
    assert response.status_code == 201, response.text
    project_id = response.json()["id"]
    event = await _last_event(nc, subjects.project_event(project_id, "created"))
    assert event.type == "project.created" and event.document.name == "Portraits"


async def test_an_invalid_document_is_refused_and_records_nothing(api: ApiServer, nc: Client) -> None:
    before = await event_count(nc)
    async with api.client() as http:
        response = await http.post("/api/projects", json={"nodes": "not a list"})
    assert response.status_code == 422
    assert "name" in response.json()["detail"]["message"]
    assert await event_count(nc) == before


async def test_saving_twice_quickly_records_two_new_versions(
    api: ApiServer, nc: Client, scheduler: FakeScheduler
) -> None:
    _stored(scheduler, "p1", 1, DOC)
    async with api.client() as http:
        first = await http.put("/api/projects/p1", json={**DOC, "name": "Portraits v2"})
        second = await http.put("/api/projects/p1", json={**DOC, "name": "Portraits v3"})
    assert first.json()["version"] == 2 and second.json()["version"] == 3
    event = await _last_event(nc, subjects.project_event("p1", "saved"))
    assert event.version == 3 and event.document.name == "Portraits v3"


async def test_reading_listing_and_versions_come_from_the_scheduler(api: ApiServer, scheduler: FakeScheduler) -> None:
    _stored(scheduler, "p2", 1, DOC)
    _stored(scheduler, "p2", 2, {**DOC, "name": "Second"})
    async with api.client() as http:
        latest = await http.get("/api/projects/p2")
        old = await http.get("/api/projects/p2", params={"version": 1})
        listed = await http.get("/api/projects")
        versions = await http.get("/api/projects/p2/versions")
        missing = await http.get("/api/projects/nope")
        exported = await http.get("/api/projects/p2/export")
    assert latest.json()["document"]["name"] == "Second" and old.json()["document"]["name"] == "Portraits"
    assert any(p["id"] == "p2" for p in listed.json()["projects"])
    assert [v["version"] for v in versions.json()["versions"]] == [1, 2]
    assert missing.status_code == 404
    assert "attachment" in exported.headers["content-disposition"]
    assert exported.json()["format"] == "comfyui-orchestrator-project" and exported.json()["name"] == "Second"


async def test_restore_rename_delete_and_import(api: ApiServer, nc: Client, scheduler: FakeScheduler) -> None:
    _stored(scheduler, "p3", 1, DOC)
    _stored(scheduler, "p3", 2, {**DOC, "name": "Changed"})
    async with api.client() as http:
        restored = await http.post("/api/projects/p3/versions/1/restore")
        saved = await _last_event(nc, subjects.project_event("p3", "saved"))
        renamed = await http.post("/api/projects/p3/rename", json={"name": "Renamed"})
        bad_name = await http.post("/api/projects/p3/rename", json={"name": ""})
        deleted = await http.delete("/api/projects/p3")
        imported = await http.post("/api/projects/import", json={**DOC, "name": "Imported"})
    assert restored.status_code == 200 and saved.restored_from == 1 and saved.version == 3
    assert saved.document.name == "Portraits"
    assert renamed.status_code == 200
    assert (await _last_event(nc, subjects.project_event("p3", "renamed"))).name == "Renamed"
    assert bad_name.status_code == 422
    assert deleted.status_code == 200
    assert (await _last_event(nc, subjects.project_event("p3", "deleted"))).type == "project.deleted"
    assert imported.status_code == 201 and imported.json()["id"] != "p3"


async def test_a_project_reads_back_its_own_writes_before_the_scheduler_folds_them(
    api: ApiServer, scheduler: FakeScheduler
) -> None:
    async with api.client() as http:
        project_id = (await http.post("/api/projects", json=DOC)).json()["id"]
        created = await http.get(f"/api/projects/{project_id}")
        saved = await http.put(f"/api/projects/{project_id}", json={**DOC, "view": {"zoom": 3}})
        latest = await http.get(f"/api/projects/{project_id}")
        await http.post(f"/api/projects/{project_id}/rename", json={"name": "Renamed"})
        renamed = await http.get(f"/api/projects/{project_id}")
        await http.delete(f"/api/projects/{project_id}")
        deleted = await http.get(f"/api/projects/{project_id}")
    assert project_id not in scheduler.projects, "the stand-in scheduler folds nothing"
    assert created.status_code == 200 and created.json()["version"] == 1
    assert saved.json()["version"] == 2 and latest.json()["document"]["view"] == {"zoom": 3}
    assert renamed.json()["document"]["name"] == "Renamed" and renamed.json()["version"] == 2
    assert deleted.status_code == 404
