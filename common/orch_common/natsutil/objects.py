"""Fast reads and writes of artifacts in the JetStream Object Store, in nats-py's own data format.

::

    stored = await put_artifact(js, "job1/1/9/0-out.png", png, "image/png", {"job_id": "job1"})
    data, content_type = await get_artifact(js, "job1/1/9/0-out.png")

The layout is the Object Store's: chunks on `$O.<bucket>.C.<nuid>`, then one meta message (the JSON
`ObjectInfo`, rolled up) on `$O.<bucket>.M.<base64url(name)>`, with the digest `SHA-256=<base64url>`.
So nats-py's `ObjectStore.get/put` reads what we write and the other way round. The content type travels
in the meta's `headers` (`{"Content-Type": ["image/png"]}`, as Go's `nats.Header` encodes it) and our
key/values in `metadata`.

What is faster: chunks are published with pipelined acks (`publish_async`) instead of one round trip each,
and read through one ephemeral pull consumer fetched in large batches, joined once at the end.

Errors::

    ArtifactError
    ├── ArtifactNotFoundError    no such key (or it was deleted)
    └── ArtifactCorruptError     the meta does not parse, chunks are missing, or the digest does not match
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from nats.js.kv import MSG_ROLLUP_SUBJECT

from orch_common.contracts import subjects

__all__ = [
    "CHUNK_SIZE",
    "ArtifactCorruptError",
    "ArtifactError",
    "ArtifactNotFoundError",
    "StoredArtifact",
    "get_artifact",
    "put_artifact",
]

CHUNK_SIZE = 128 * 1024
"""Bytes per chunk message (nats-py's and Go's default)."""

DEFAULT_CONTENT_TYPE = "application/octet-stream"
_FETCH_BATCH = 256
_DIGEST_PREFIX = "SHA-256="


class ArtifactError(Exception):
    """Base of the artifact store errors."""


class ArtifactNotFoundError(ArtifactError, LookupError):
    """No object under that key."""


class ArtifactCorruptError(ArtifactError):
    """The stored object cannot be read back whole and intact."""


@dataclass(frozen=True)
class StoredArtifact:
    """What `put_artifact` stored: enough to describe the artifact in an event."""

    key: str
    bucket: str
    nuid: str
    size: int
    chunks: int
    sha256: str  # hex
    content_type: str
    metadata: Mapping[str, str]


def _stream(bucket: str) -> str:
    return f"OBJ_{bucket}"


def _meta_subject(bucket: str, key: str) -> str:
    return f"$O.{bucket}.M.{base64.urlsafe_b64encode(key.encode()).decode()}"


def _chunk_subject(bucket: str, nuid: str) -> str:
    return f"$O.{bucket}.C.{nuid}"


async def put_artifact(
    js: JetStreamContext,
    key: str,
    data: bytes,
    content_type: str = DEFAULT_CONTENT_TYPE,
    meta: Mapping[str, str] | None = None,
    *,
    bucket: str = subjects.ARTIFACTS_BUCKET,
) -> StoredArtifact:
    """Store `data` under `key` (replacing any previous object of that key) and return what was stored."""
    if not key:
        raise ValueError("an artifact key must not be empty")
    nuid = js._nc._nuid.next().decode()
    chunk_subject = _chunk_subject(bucket, nuid)
    stream = _stream(bucket)
    previous = await _read_info(js, bucket, key)
    digest = hashlib.sha256(data)
    view = memoryview(data)
    futures: list[asyncio.Future[object]] = []
    try:
        for offset in range(0, len(data), CHUNK_SIZE):
            future = await js.publish_async(chunk_subject, bytes(view[offset : offset + CHUNK_SIZE]))
            futures.append(future)  # type: ignore[arg-type]
        await asyncio.gather(*futures)
        info = {
            "name": key,
            "bucket": bucket,
            "nuid": nuid,
            "size": len(data),
            "mtime": datetime.now(UTC).isoformat(),
            "chunks": len(futures),
            "digest": _DIGEST_PREFIX + base64.urlsafe_b64encode(digest.digest()).decode(),
            "headers": {"Content-Type": [content_type]},
            "metadata": dict(meta or {}),
            "options": {"max_chunk_size": CHUNK_SIZE},
        }
        await js.publish(
            _meta_subject(bucket, key),
            json.dumps(info).encode(),
            headers={"Nats-Rollup": MSG_ROLLUP_SUBJECT},
        )
    except BaseException:
        await _purge_quietly(js, stream, chunk_subject)
        raise
    if previous is not None and previous.get("nuid") and not previous.get("deleted"):
        await _purge_quietly(js, stream, _chunk_subject(bucket, str(previous["nuid"])))
    return StoredArtifact(
        key=key,
        bucket=bucket,
        nuid=nuid,
        size=len(data),
        chunks=len(futures),
        sha256=digest.hexdigest(),
        content_type=content_type,
        metadata=dict(meta or {}),
    )


async def get_artifact(
    js: JetStreamContext, key: str, *, bucket: str = subjects.ARTIFACTS_BUCKET, timeout: float = 30.0
) -> tuple[bytes, str]:
    """The bytes and content type stored under `key`; raises ArtifactNotFoundError or ArtifactCorruptError."""
    info = await _read_info(js, bucket, key)
    if info is None or info.get("deleted"):
        raise ArtifactNotFoundError(f"no artifact {key!r} in bucket {bucket!r}")
    content_type = _content_type(info.get("headers"))
    size = int(info.get("size") or 0)
    chunks = int(info.get("chunks") or 0)
    if size == 0:
        return b"", content_type
    nuid = info.get("nuid")
    if not isinstance(nuid, str) or not nuid:
        raise ArtifactCorruptError(f"artifact {key!r}: meta has no nuid")
    parts = await _fetch_chunks(js, _stream(bucket), _chunk_subject(bucket, nuid), chunks, timeout)
    data = b"".join(parts)
    if len(data) != size:
        raise ArtifactCorruptError(f"artifact {key!r}: read {len(data)} bytes, meta says {size}")
    expected = str(info.get("digest") or "")
    if expected:
        encoded = expected.split("=", 1)[1] if "=" in expected[:9] else expected
        try:
            want = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except ValueError as exc:
            raise ArtifactCorruptError(f"artifact {key!r}: digest {expected!r} does not decode") from exc
        if hashlib.sha256(data).digest() != want:
            raise ArtifactCorruptError(f"artifact {key!r}: digest mismatch")
    return data, content_type


def _content_type(headers: object) -> str:
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            if str(name).lower() == "content-type":
                if isinstance(value, list) and value:
                    return str(value[0])
                if isinstance(value, str) and value:
                    return value
    return DEFAULT_CONTENT_TYPE


async def _read_info(js: JetStreamContext, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        msg = await js.get_last_msg(_stream(bucket), _meta_subject(bucket, key))
    except NotFoundError:
        return None
    try:
        info = json.loads(msg.data or b"")
    except ValueError as exc:
        raise ArtifactCorruptError(f"artifact {key!r}: meta is not JSON") from exc
    if not isinstance(info, dict):
        raise ArtifactCorruptError(f"artifact {key!r}: meta is not a JSON object")
    return info


async def _fetch_chunks(
    js: JetStreamContext, stream: str, chunk_subject: str, chunks: int, timeout: float
) -> list[bytes]:
    config = ConsumerConfig(
        ack_policy=AckPolicy.NONE,
        deliver_policy=DeliverPolicy.ALL,
        filter_subject=chunk_subject,
        mem_storage=True,
        inactive_threshold=max(timeout, 5.0),
        num_replicas=1,
    )
    sub = await js.pull_subscribe(chunk_subject, durable=None, stream=stream, config=config)
    parts: list[bytes] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while len(parts) < chunks:
            left = deadline - loop.time()
            if left <= 0:
                raise ArtifactCorruptError(f"{chunk_subject}: only {len(parts)} of {chunks} chunks arrived")
            want = min(_FETCH_BATCH, chunks - len(parts))
            try:
                msgs = await sub.fetch(want, timeout=min(left, 5.0))
            except TimeoutError:
                continue
            parts.extend(m.data for m in msgs)
            if msgs and len(parts) < chunks and msgs[-1].metadata.num_pending == 0:
                raise ArtifactCorruptError(f"{chunk_subject}: only {len(parts)} of {chunks} chunks are stored")
    finally:
        with contextlib.suppress(Exception):  # the consumer is ephemeral and expires on its own
            await sub.unsubscribe()
    return parts


async def _purge_quietly(js: JetStreamContext, stream: str, subject: str) -> None:
    with contextlib.suppress(Exception):  # best effort clean-up of orphaned chunks
        await js.purge_stream(stream, subject=subject)
