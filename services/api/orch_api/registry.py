"""Which backends exist and what they can run: the agents' registrations in the KV bucket, else the scheduler's view.

Each agent keeps one key of `subjects.BACKENDS_BUCKET` alive with its heartbeat; an entry that stops being
refreshed expires, so reading the bucket gives exactly the live backends. Values are read leniently (only
the id, `comfy_url` and the capabilities' node classes matter here).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NotFoundError
from pydantic import BaseModel, ConfigDict, Field

from orch_api.bus import Bus
from orch_api.errors import ApiError
from orch_common.contracts import subjects
from orch_common.contracts.rpc import BackendView, RpcVerb

__all__ = ["BackendRecord", "RecentBackends", "parse_registration", "read_backends", "read_registrations"]

log = logging.getLogger(__name__)


class BackendRecord(BaseModel):
    """What the API needs to know about one backend."""

    model_config = ConfigDict(frozen=True)

    id: str
    comfy_url: str | None
    node_classes: frozenset[str] = frozenset()
    capabilities: dict[str, Any] = Field(default_factory=dict)
    status: str = "online"
    live: bool = True
    """True when the agent's registration is in the KV bucket right now."""


_STATUS_OF_HEARTBEAT = {"ready": "online", "starting": "offline", "unreachable": "offline", "draining": "disabled"}
"""The agent's heartbeat status in the terms of `BackendView.status`."""


def parse_registration(key: str, raw: bytes) -> BackendRecord | None:
    """Read one KV registration value; None (and a log line) when it is not a JSON object."""
    try:
        data = json.loads(raw)
    except ValueError:
        log.warning("backend registration %r is not JSON; ignored", key)
        return None
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("registration"), dict):
        data = {**data, **data["registration"]}
    caps = data.get("capabilities") if isinstance(data.get("capabilities"), dict) else {}
    assert isinstance(caps, dict)
    classes = caps.get("node_classes") or data.get("node_classes") or []
    backend_id = data.get("backend_id") or data.get("id") or key
    url = data.get("comfy_url") or data.get("url")
    raw_status = str(data.get("status") or ("disabled" if data.get("disabled") else "online"))
    status = _STATUS_OF_HEARTBEAT.get(raw_status, raw_status)
    return BackendRecord(
        id=str(backend_id),
        comfy_url=str(url) if url else None,
        node_classes=frozenset(str(c) for c in classes),
        capabilities=caps,
        status=status,
    )


async def read_registrations(bus: Bus) -> dict[str, BackendRecord]:
    """Every backend whose registration is live in the KV bucket, by backend id.

    The keys come from one `stream_info` of the bucket's stream (no consumer is created per call); expired
    entries are gone from the stream, deleted ones are skipped.
    """
    prefix = f"$KV.{subjects.BACKENDS_BUCKET}."
    try:
        kv = await bus.js.key_value(subjects.BACKENDS_BUCKET)
        info = await bus.js.stream_info(f"KV_{subjects.BACKENDS_BUCKET}", subjects_filter=f"{prefix}>")
    except (BucketNotFoundError, NotFoundError):
        return {}
    except (NatsTimeoutError, TimeoutError):
        log.warning("reading %s timed out", subjects.BACKENDS_BUCKET)
        return {}
    keys = sorted(subject[len(prefix) :] for subject in (info.state.subjects or {}))
    found: dict[str, BackendRecord] = {}
    for key in keys:
        try:
            entry = await kv.get(key)
        except (KeyNotFoundError, NotFoundError):
            continue
        if entry.value is None:
            continue
        record = parse_registration(key, entry.value)
        if record is not None:
            found[record.id] = record
    return found


def _from_view(view: BackendView) -> BackendRecord:
    classes = view.capabilities.get("node_classes") or []
    return BackendRecord(
        id=view.id,
        comfy_url=view.comfy_url,
        node_classes=frozenset(str(c) for c in classes),
        capabilities=view.capabilities,
        status=view.status,
        live=False,
    )


async def scheduler_backends(bus: Bus) -> list[BackendView]:
    """The scheduler's `backends.list` (raises `ApiError` when it does not answer)."""
    result = await bus.rpc(RpcVerb.BACKENDS_LIST)
    items = result.get("backends", []) if isinstance(result, dict) else result or []
    return [BackendView.model_validate(item) for item in items]


async def read_backends(bus: Bus, *, ask_scheduler: bool = True) -> dict[str, BackendRecord]:
    """Live registrations, completed by the scheduler's list for backends registered but not in the bucket."""
    found = await read_registrations(bus)
    if not ask_scheduler:
        return found
    try:
        views = await scheduler_backends(bus)
    except ApiError:
        return found
    for view in views:
        known = found.get(view.id)
        if known is None:
            found[view.id] = _from_view(view)
            continue
        update: dict[str, Any] = {}
        if not known.node_classes:  # a heartbeat written before the agent registered its capabilities
            scheduler_view = _from_view(view)
            update.update(node_classes=scheduler_view.node_classes, capabilities=scheduler_view.capabilities)
        if view.status == "disabled":
            update["status"] = "disabled"
        if update:
            found[view.id] = known.model_copy(update=update)
    return found


class RecentBackends:
    """`read_backends` answers reused for up to `max_age` seconds, for the submission path.

    Reading the registry costs one KV get per backend plus a scheduler RPC, all parsed; a burst of submissions
    shares one read instead of paying it per request. Callers that would refuse a request on what they read ask
    again with `fresh=True` first, so a backend registered a moment ago is never missed.
    """

    def __init__(self, max_age: float = 0.5) -> None:
        self.max_age = max_age
        self._value: dict[str, BackendRecord] | None = None
        self._read_at = -float("inf")
        self._lock = asyncio.Lock()

    async def get(self, bus: Bus, *, fresh: bool = False) -> tuple[dict[str, BackendRecord], bool]:
        """The backends, and whether they were read just now (False: reused from a read ≤ `max_age` ago)."""
        asked_at = time.monotonic()
        async with self._lock:
            reusable = self._read_at >= asked_at if fresh else asked_at - self._read_at < self.max_age
            if self._value is not None and reusable:
                return dict(self._value), fresh
            value = await read_backends(bus)
            self._value, self._read_at = value, time.monotonic()
            return dict(value), True
