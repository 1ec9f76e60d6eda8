"""Fast reads and writes of artifacts in the JetStream Object Store, in nats-py's own data format.

::

    stored = await put_artifact(js, "job1/1/9/0-out.png", png, "image/png", {"job_id": "job1"})
    data, content_type = await get_artifact(js, "job1/1/9/0-out.png")

The layout is the Object Store's: chunks on `$O.<bucket>.C.<nuid>`, then one meta message (the JSON
`ObjectInfo`, rolled up) on `$O.<bucket>.M.<base64url(name)>`, with the digest `SHA-256=<base64url>`.
So nats-py's `ObjectStore.get/put` reads what we write and the other way round. The content type travels
in the meta's `headers` (`{"Content-Type": ["image/png"]}`, as Go's `nats.Header` encodes it) and our
key/values in `metadata`.

What is faster: chunks and the meta are published with pipelined acks (`publish_async`) instead of one round trip
each, the meta of a new key expecting none before it (so the usual put is one round trip), and chunks are read
with batched direct gets (nats-server 2.11+, streams with `allow_direct`; otherwise through one ephemeral pull
consumer fetched in large batches), joined once at the end.

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
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import APIError, NotFoundError
from nats.js.kv import MSG_ROLLUP_SUBJECT

from orch_common.contracts import subjects

__all__ = [
    "CHUNK_SIZE",
    "ArtifactCorruptError",
    "ArtifactError",
    "ArtifactInfo",
    "ArtifactNotFoundError",
    "StoredArtifact",
    "get_artifact",
    "put_artifact",
    "read_artifact_info",
    "stream_artifact",
]

CHUNK_SIZE = 128 * 1024
"""Bytes per chunk message (nats-py's and Go's default)."""

DEFAULT_CONTENT_TYPE = "application/octet-stream"
_FETCH_BATCH = 256
_PUBLISH_TIMEOUT = 30.0
_WRONG_LAST_SEQUENCE = 10071  # JetStream: "wrong last sequence" for Nats-Expected-Last-Subject-Sequence
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


@dataclass(frozen=True)
class ArtifactInfo:
    """What the meta message says about a stored artifact, read without its chunks."""

    key: str
    bucket: str
    nuid: str
    size: int
    chunks: int
    sha256: str | None  # hex; None when the writer recorded no digest
    content_type: str
    raw: Mapping[str, Any]


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
    """Store `data` under `key` (replacing any previous object of that key) and return what was stored.

    A new key (the usual case: keys name a job's attempt and node) costs one pipelined round trip: the chunks and
    the meta go out together, the meta expecting no earlier one (`Nats-Expected-Last-Subject-Sequence: 0`). Only
    when the key exists is its old meta read, replaced and its chunks purged."""
    if not key:
        raise ValueError("an artifact key must not be empty")
    nuid = js._nc._nuid.next().decode()
    chunk_subject = _chunk_subject(bucket, nuid)
    meta_subject = _meta_subject(bucket, key)
    stream = _stream(bucket)
    digest = hashlib.sha256(data)
    view = memoryview(data)
    chunks = -(-len(data) // CHUNK_SIZE)
    info = {
        "name": key,
        "bucket": bucket,
        "nuid": nuid,
        "size": len(data),
        "mtime": datetime.now(UTC).isoformat(),
        "chunks": chunks,
        "digest": _DIGEST_PREFIX + base64.urlsafe_b64encode(digest.digest()).decode(),
        "headers": {"Content-Type": [content_type]},
        "metadata": dict(meta or {}),
        "options": {"max_chunk_size": CHUNK_SIZE},
    }
    encoded = json.dumps(info).encode()
    futures: list[asyncio.Future[Any]] = []
    meta_stored = False
    try:
        for offset in range(0, len(data), CHUNK_SIZE):
            futures.append(await js.publish_async(chunk_subject, bytes(view[offset : offset + CHUNK_SIZE])))
        # Not publish_async: nats-py's handler of its replies raises on an API error instead of failing the future.
        first_meta = js.publish(
            meta_subject,
            encoded,
            timeout=_PUBLISH_TIMEOUT,
            headers={"Nats-Rollup": MSG_ROLLUP_SUBJECT, "Nats-Expected-Last-Subject-Sequence": "0"},
        )
        results = await asyncio.wait_for(asyncio.gather(*futures, first_meta, return_exceptions=True), _PUBLISH_TIMEOUT)
        meta_result = results[-1]
        meta_stored = not isinstance(meta_result, BaseException)
        for result in results[:-1]:
            if isinstance(result, BaseException):
                raise result
        if isinstance(meta_result, APIError) and meta_result.err_code == _WRONG_LAST_SEQUENCE:
            await _replace(js, bucket, key, meta_subject, encoded)
        elif isinstance(meta_result, BaseException):
            raise meta_result
    except BaseException:
        await _purge_quietly(js, stream, chunk_subject)
        if meta_stored:  # it expected no earlier meta, so nothing else is under that subject
            await _purge_quietly(js, stream, meta_subject)
        raise
    return StoredArtifact(
        key=key,
        bucket=bucket,
        nuid=nuid,
        size=len(data),
        chunks=chunks,
        sha256=digest.hexdigest(),
        content_type=content_type,
        metadata=dict(meta or {}),
    )


async def _replace(js: JetStreamContext, bucket: str, key: str, meta_subject: str, encoded: bytes) -> None:
    """Put a new meta over an existing object's, then drop the old object's chunks."""
    previous = await _read_info(js, bucket, key)
    await js.publish(meta_subject, encoded, headers={"Nats-Rollup": MSG_ROLLUP_SUBJECT})
    if previous is not None and previous.get("nuid") and not previous.get("deleted"):
        await _purge_quietly(js, _stream(bucket), _chunk_subject(bucket, str(previous["nuid"])))


async def read_artifact_info(
    js: JetStreamContext, key: str, *, bucket: str = subjects.ARTIFACTS_BUCKET
) -> ArtifactInfo:
    """The meta of the artifact under `key` (one round trip); raises ArtifactNotFoundError or ArtifactCorruptError."""
    info = await _read_info(js, bucket, key)
    if info is None or info.get("deleted"):
        raise ArtifactNotFoundError(f"no artifact {key!r} in bucket {bucket!r}")
    size = int(info.get("size") or 0)
    nuid = info.get("nuid")
    if size and (not isinstance(nuid, str) or not nuid):
        raise ArtifactCorruptError(f"artifact {key!r}: meta has no nuid")
    return ArtifactInfo(
        key=key,
        bucket=bucket,
        nuid=str(nuid or ""),
        size=size,
        chunks=int(info.get("chunks") or 0),
        sha256=_digest_hex(key, str(info.get("digest") or "")),
        content_type=_content_type(info.get("headers")),
        raw=info,
    )


async def get_artifact(
    js: JetStreamContext,
    key: str,
    *,
    bucket: str = subjects.ARTIFACTS_BUCKET,
    timeout: float = 30.0,
    info: ArtifactInfo | None = None,
) -> tuple[bytes, str]:
    """The bytes and content type stored under `key`; raises ArtifactNotFoundError or ArtifactCorruptError.

    `info` (from `read_artifact_info`) saves reading the meta again."""
    if info is None:
        info = await read_artifact_info(js, key, bucket=bucket)
    if info.size == 0:
        return b"", info.content_type
    stream, chunk_subject = _stream(bucket), _chunk_subject(bucket, info.nuid)
    parts = await _direct_chunks(js, stream, chunk_subject, info.chunks, timeout)
    if parts is None:
        parts = await _fetch_chunks(js, stream, chunk_subject, info.chunks, timeout)
    data = b"".join(parts)
    if len(data) != info.size:
        raise ArtifactCorruptError(f"artifact {key!r}: read {len(data)} bytes, meta says {info.size}")
    if info.sha256 is not None and hashlib.sha256(data).hexdigest() != info.sha256:
        raise ArtifactCorruptError(f"artifact {key!r}: digest mismatch")
    return data, info.content_type


async def stream_artifact(
    js: JetStreamContext, info: ArtifactInfo, *, timeout: float = 30.0
) -> AsyncGenerator[bytes, None]:
    """The bytes of the artifact `info` describes, chunk by chunk as they arrive, to be forwarded while the rest is
    still coming. The last chunk is held back until the size and digest of the whole have been checked, so whoever
    forwards the chunks never completes a corrupt copy: a bad object raises ArtifactCorruptError instead."""
    if info.size == 0:
        return
    stream, chunk_subject = _stream(info.bucket), _chunk_subject(info.bucket, info.nuid)
    arrived: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()

    async def fetch() -> None:
        try:
            parts = await _direct_chunks(js, stream, chunk_subject, info.chunks, timeout, arrived.put_nowait)
            if parts is None:
                for part in await _fetch_chunks(js, stream, chunk_subject, info.chunks, timeout):
                    arrived.put_nowait(part)
            arrived.put_nowait(None)
        except Exception as exc:
            arrived.put_nowait(exc)

    fetching = asyncio.create_task(fetch())
    digest = hashlib.sha256()
    size = 0
    held: bytes | None = None
    try:
        while (item := await arrived.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            digest.update(item)
            size += len(item)
            if held is not None:
                yield held
            held = item
        if size != info.size:
            raise ArtifactCorruptError(f"artifact {info.key!r}: read {size} bytes, meta says {info.size}")
        if info.sha256 is not None and digest.hexdigest() != info.sha256:
            raise ArtifactCorruptError(f"artifact {info.key!r}: digest mismatch")
        if held is not None:
            yield held
    finally:
        fetching.cancel()  # done by now, unless the reader stopped early


def _digest_hex(key: str, digest: str) -> str | None:
    """`SHA-256=<base64url>` (the Object Store's form) as hex; None when there is none."""
    if not digest:
        return None
    encoded = digest.split("=", 1)[1] if "=" in digest[:9] else digest
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except ValueError as exc:
        raise ArtifactCorruptError(f"artifact {key!r}: digest {digest!r} does not decode") from exc
    return raw.hex()


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
    stream, subject = _stream(bucket), _meta_subject(bucket, key)
    try:  # a direct get answers with the raw message: no JSON envelope, no base64
        msg = await js.get_last_msg(stream, subject, direct=True)
    except NotFoundError:
        return None
    except NoRespondersError:  # the stream does not allow direct gets
        try:
            msg = await js.get_last_msg(stream, subject)
        except NotFoundError:
            return None
    try:
        info = json.loads(msg.data or b"")
    except ValueError as exc:
        raise ArtifactCorruptError(f"artifact {key!r}: meta is not JSON") from exc
    if not isinstance(info, dict):
        raise ArtifactCorruptError(f"artifact {key!r}: meta is not a JSON object")
    return info


def _batch_direct_get(js: JetStreamContext) -> bool:
    """Whether the server answers batched direct gets (nats-server 2.11 and later)."""
    version = js._nc.connected_server_version
    try:
        return (version.major, version.minor) >= (2, 11)
    except (TypeError, ValueError):
        return False


async def _direct_chunks(
    js: JetStreamContext,
    stream: str,
    chunk_subject: str,
    chunks: int,
    timeout: float,
    on_chunk: Callable[[bytes], None] | None = None,
) -> list[bytes] | None:
    """The chunks by batched direct gets (no consumer to create); None when the stream does not allow them.

    `on_chunk` sees each chunk as it arrives."""
    if not _batch_direct_get(js):
        return None
    nc = js._nc
    inbox = nc.new_inbox()
    parts: list[bytes] = []
    ended: asyncio.Future[str] | None = None
    last_seq = 0

    async def on_reply(msg: Msg) -> None:
        nonlocal last_seq
        headers = msg.headers or {}
        status = headers.get("Status")
        if status:  # 204 EOB ends a batch; 404 when nothing (more) is stored; 503 no direct get
            if ended is not None and not ended.done():
                ended.set_result(f"{status} {headers.get('Description', '')}".strip())
            return
        parts.append(msg.data)
        last_seq = int(headers.get("Nats-Sequence") or last_seq)
        if on_chunk is not None:
            on_chunk(msg.data)

    sub = await nc.subscribe(inbox, cb=on_reply)
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            while len(parts) < chunks:
                asked = len(parts)
                ended = loop.create_future()
                request: dict[str, Any] = {"batch": min(_FETCH_BATCH, chunks - asked), "next_by_subj": chunk_subject}
                if last_seq:
                    request["seq"] = last_seq + 1
                await nc.publish(f"$JS.API.DIRECT.GET.{stream}", json.dumps(request).encode(), reply=inbox)
                status = await ended
                if status.startswith("503") and not parts:
                    return None
                if len(parts) == asked:
                    raise ArtifactCorruptError(f"{chunk_subject}: only {len(parts)} of {chunks} chunks are stored")
    except TimeoutError:
        raise ArtifactCorruptError(f"{chunk_subject}: only {len(parts)} of {chunks} chunks arrived") from None
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
    if len(parts) > chunks:
        raise ArtifactCorruptError(f"{chunk_subject}: {len(parts)} chunks stored, the meta says {chunks}")
    return parts


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
