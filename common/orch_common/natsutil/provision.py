"""Create the JetStream topology (streams, KV bucket, Object Store) idempotently.

One component does this at start-up (`orch nats`, `orch up`, or `orch provision` against an existing
cluster); the services only wait for it with `wait_for_topology`.
"""

from __future__ import annotations

import asyncio

from nats.js import JetStreamContext
from nats.js.api import (
    KeyValueConfig,
    ObjectStoreConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BucketNotFoundError, NotFoundError

from orch_common.contracts import subjects

__all__ = ["commands_stream_config", "ensure_topology", "events_stream_config", "wait_for_topology"]


def events_stream_config(replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name=subjects.EVENTS_STREAM,
        description="Every durable orchestrator event (jobs, backends, projects, runs)",
        subjects=[subjects.all_events()],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        duplicate_window=subjects.DUPLICATE_WINDOW_S,
        num_replicas=replicas,
        max_msg_size=16 * 1024 * 1024,
    )


def commands_stream_config(replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name=subjects.COMMANDS_STREAM,
        description="Commands to backend agents; a command is gone once acked",
        subjects=[subjects.all_backend_commands()],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        duplicate_window=subjects.DUPLICATE_WINDOW_S,
        num_replicas=replicas,
        max_msg_size=16 * 1024 * 1024,
    )


async def _ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    assert config.name is not None
    try:
        await js.stream_info(config.name)
    except NotFoundError:
        await js.add_stream(config)
        return
    await js.update_stream(config)


async def ensure_topology(js: JetStreamContext, replicas: int = 1) -> None:
    """Create or update every stream and bucket; safe to call any number of times."""
    await _ensure_stream(js, events_stream_config(replicas))
    await _ensure_stream(js, commands_stream_config(replicas))
    try:
        await js.key_value(subjects.BACKENDS_BUCKET)
    except BucketNotFoundError:
        await js.create_key_value(
            KeyValueConfig(
                bucket=subjects.BACKENDS_BUCKET,
                description="Live backends and their capabilities, kept alive by heartbeats",
                history=1,
                ttl=subjects.BACKEND_HEARTBEAT_TTL_S,
                storage=StorageType.FILE,
                replicas=replicas,
            )
        )
    try:
        await js.object_store(subjects.ARTIFACTS_BUCKET)
    except (BucketNotFoundError, NotFoundError):
        await js.create_object_store(
            subjects.ARTIFACTS_BUCKET,
            ObjectStoreConfig(
                description="Every job output, keyed by job, attempt and node",
                storage=StorageType.FILE,
                replicas=replicas,
            ),
        )


async def wait_for_topology(js: JetStreamContext, timeout: float = 30.0) -> None:
    """Wait until the provisioning component has created the streams and buckets."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await js.stream_info(subjects.EVENTS_STREAM)
            await js.stream_info(subjects.COMMANDS_STREAM)
            await js.key_value(subjects.BACKENDS_BUCKET)
            await js.object_store(subjects.ARTIFACTS_BUCKET)
            return
        except (NotFoundError, BucketNotFoundError):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("JetStream topology not provisioned: run `orch nats` or `orch provision`") from None
            await asyncio.sleep(0.2)
