"""Backend registrations are read from the agents' heartbeat values in the KV bucket."""

from __future__ import annotations

import json

from orch_api.registry import parse_registration
from orch_common.contracts.events import BackendCapabilities, BackendRegistered, utcnow


def _heartbeat(status: str, registered: bool = True) -> bytes:
    registration = BackendRegistered(
        backend_id="gpu-1",
        comfy_url="http://127.0.0.1:8188",
        agent_instance="i1",
        capabilities=BackendCapabilities(node_classes=["EmptyImage", "SaveImage"], object_info_hash="abc"),
    )
    return json.dumps(
        {
            "backend_id": "gpu-1",
            "agent_instance": "i1",
            "comfy_url": "http://127.0.0.1:8188",
            "status": status,
            "at": utcnow().isoformat(),
            "registration": registration.model_dump(mode="json") if registered else None,
            "queue_remaining": 0,
            "in_flight": [],
            "jobs_completed": 3,
        }
    ).encode()


def test_an_agent_heartbeat_gives_the_backend_its_classes_url_and_status() -> None:
    record = parse_registration("gpu-1", _heartbeat("ready"))
    assert record is not None
    assert record.id == "gpu-1" and record.comfy_url == "http://127.0.0.1:8188"
    assert record.node_classes == {"EmptyImage", "SaveImage"}
    assert record.capabilities["object_info_hash"] == "abc"
    assert record.status == "online"


def test_a_starting_agent_has_no_classes_yet_and_is_not_online() -> None:
    record = parse_registration("gpu-1", _heartbeat("starting", registered=False))
    assert record is not None and record.node_classes == frozenset() and record.status == "offline"


def test_a_value_that_is_not_json_is_ignored() -> None:
    assert parse_registration("gpu-1", b"\x00garbage") is None
