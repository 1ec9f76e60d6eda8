"""Submissions share one read of the registry for half a second, yet never refuse on a stale read."""

from __future__ import annotations

import json

import pytest
from nats.aio.client import Client

from tests.api.conftest import BASIC_CLASSES, ApiServer, register_backend
from tests.helpers import FIXTURES

pytestmark = pytest.mark.asyncio(loop_scope="module")

BASIC = json.loads((FIXTURES / "workflows" / "api_basic.json").read_text())


async def test_a_backend_registered_a_moment_after_a_submission_is_seen_by_the_next_one(
    api: ApiServer, nc: Client
) -> None:
    await register_backend(nc, "gpu-old", "http://127.0.0.1:9", BASIC_CLASSES)
    special = {"1": {"class_type": "BrandNewNode", "inputs": {}}}
    async with api.client() as http:
        first = await http.post("/api/jobs", json={"workflow": BASIC})
        assert first.status_code == 202, first.text
        await register_backend(nc, "gpu-new", "http://127.0.0.1:9", [*BASIC_CLASSES, "BrandNewNode"])
        second = await http.post("/api/jobs", json={"workflow": special})
        assert second.status_code == 202, second.text
        pinned = await http.post("/api/jobs", json={"workflow": BASIC, "backend": "gpu-new"})
        assert pinned.status_code == 202, pinned.text


async def test_a_class_no_backend_has_is_still_refused(api: ApiServer, nc: Client) -> None:
    await register_backend(nc, "gpu-old", "http://127.0.0.1:9", BASIC_CLASSES)
    async with api.client() as http:
        assert (await http.post("/api/jobs", json={"workflow": BASIC})).status_code == 202
        refused = await http.post("/api/jobs", json={"workflow": {"1": {"class_type": "NoSuchNode", "inputs": {}}}})
    assert refused.status_code == 422, refused.text
    assert "NoSuchNode" in refused.text
