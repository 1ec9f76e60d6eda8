"""`natsutil.objects`: our fast artifact reader/writer and nats-py's ObjectStore read each other's objects."""

from __future__ import annotations

import base64
import hashlib
import json
import os

import pytest
from nats.js.api import ObjectMeta

from orch_common.contracts import subjects
from orch_common.natsutil import NatsServer, objects
from orch_common.natsutil.objects import (
    CHUNK_SIZE,
    ArtifactCorruptError,
    ArtifactNotFoundError,
    get_artifact,
    put_artifact,
    read_artifact_info,
    stream_artifact,
)
from tests.helpers.nats import nats_client

pytestmark = pytest.mark.asyncio(loop_scope="module")

SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 5 * CHUNK_SIZE + 17]


@pytest.mark.parametrize("size", SIZES)
async def test_what_put_artifact_writes_nats_py_reads_byte_for_byte(nats_server: NatsServer, size: int) -> None:
    data = os.urandom(size)
    key = f"job-a/1/9/{size}-out put (1).png"
    async with nats_client(nats_server.url) as nc:
        stored = await put_artifact(nc.jetstream(), key, data, "image/png", {"job_id": "job-a"})
        assert stored.size == size and stored.chunks == -(-size // CHUNK_SIZE)
        store = await nc.jetstream().object_store(subjects.ARTIFACTS_BUCKET)
        result = await store.get(key)
        assert result.data == data
        assert result.info.headers == {"Content-Type": ["image/png"]}


@pytest.mark.parametrize("size", SIZES)
async def test_what_nats_py_writes_get_artifact_reads_byte_for_byte(nats_server: NatsServer, size: int) -> None:
    data = os.urandom(size)
    key = f"nats-py/{size}.bin"
    async with nats_client(nats_server.url) as nc:
        store = await nc.jetstream().object_store(subjects.ARTIFACTS_BUCKET)
        await store.put(key, data)
        assert await get_artifact(nc.jetstream(), key) == (data, "application/octet-stream")
        await store.put(
            key + ".typed", data, meta=ObjectMeta(name=key + ".typed", headers={"Content-Type": "text/plain"})
        )
        assert await get_artifact(nc.jetstream(), key + ".typed") == (data, "text/plain")


async def test_putting_a_key_again_replaces_the_object_and_drops_the_old_chunks(nats_server: NatsServer) -> None:
    async with nats_client(nats_server.url) as nc:
        js = nc.jetstream()
        first = await put_artifact(js, "again/1", os.urandom(3 * CHUNK_SIZE), "image/png")
        second = await put_artifact(js, "again/1", b"tiny", "text/plain")
        assert await get_artifact(js, "again/1") == (b"tiny", "text/plain")
        stream = f"OBJ_{subjects.ARTIFACTS_BUCKET}"
        info = await js.stream_info(stream, subjects_filter=f"$O.{subjects.ARTIFACTS_BUCKET}.C.{first.nuid}")
        assert not (info.state.subjects or {}), "the first version's chunks are purged"
        assert second.sha256 != first.sha256


async def test_a_missing_key_is_a_clear_not_found(nats_server: NatsServer) -> None:
    async with nats_client(nats_server.url) as nc:
        with pytest.raises(ArtifactNotFoundError, match="no artifact 'nope/1'"):
            await get_artifact(nc.jetstream(), "nope/1")
        store = await nc.jetstream().object_store(subjects.ARTIFACTS_BUCKET)
        await put_artifact(nc.jetstream(), "deleted/1", b"x")
        await store.delete("deleted/1")
        with pytest.raises(ArtifactNotFoundError):
            await get_artifact(nc.jetstream(), "deleted/1")


async def test_an_object_whose_chunks_are_gone_is_reported_corrupt(nats_server: NatsServer) -> None:
    async with nats_client(nats_server.url) as nc:
        js = nc.jetstream()
        stored = await put_artifact(js, "gone/1", os.urandom(2 * CHUNK_SIZE + 5))
        await js.purge_stream(
            f"OBJ_{subjects.ARTIFACTS_BUCKET}", subject=f"$O.{subjects.ARTIFACTS_BUCKET}.C.{stored.nuid}"
        )
        await js.publish(f"$O.{subjects.ARTIFACTS_BUCKET}.C.{stored.nuid}", b"only one")
        with pytest.raises(ArtifactCorruptError, match="1 of 3 chunks"):
            await get_artifact(js, "gone/1", timeout=10)


@pytest.mark.parametrize("direct", [True, False], ids=["batched direct gets", "a pull consumer"])
async def test_chunks_are_read_whole_across_several_batches_either_way(
    nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch, direct: bool
) -> None:
    monkeypatch.setattr(objects, "_FETCH_BATCH", 2)
    if not direct:
        monkeypatch.setattr(objects, "_batch_direct_get", lambda js: False)
    data = os.urandom(5 * CHUNK_SIZE + 17)
    async with nats_client(nats_server.url) as nc:
        js = nc.jetstream()
        await put_artifact(js, f"batches/{direct}", data, "image/png")
        await put_artifact(js, f"batches/{direct}/other", os.urandom(CHUNK_SIZE * 2), "image/png")  # interleaved
        assert await get_artifact(js, f"batches/{direct}") == (data, "image/png")
        info = await read_artifact_info(js, f"batches/{direct}")
        assert info.sha256 == hashlib.sha256(data).hexdigest() and info.chunks == 6 and info.size == len(data)


@pytest.mark.parametrize("size", [1, CHUNK_SIZE, 3 * CHUNK_SIZE + 5])
async def test_stream_artifact_yields_the_whole_object_chunk_by_chunk(nats_server: NatsServer, size: int) -> None:
    data = os.urandom(size)
    async with nats_client(nats_server.url) as nc:
        js = nc.jetstream()
        await put_artifact(js, f"stream/{size}", data, "image/png")
        info = await read_artifact_info(js, f"stream/{size}")
        parts = [part async for part in stream_artifact(js, info)]
        assert b"".join(parts) == data and len(parts) == info.chunks


async def test_a_streamed_object_whose_digest_does_not_match_never_yields_its_last_chunk(
    nats_server: NatsServer,
) -> None:
    data = os.urandom(3 * CHUNK_SIZE)
    async with nats_client(nats_server.url) as nc:
        js = nc.jetstream()
        await put_artifact(js, "stream/bad", data, "image/png")
        info = await read_artifact_info(js, "stream/bad")
        forged = {**info.raw, "digest": "SHA-256=" + base64.urlsafe_b64encode(hashlib.sha256(b"x").digest()).decode()}
        await js.publish(
            f"$O.{subjects.ARTIFACTS_BUCKET}.M.{base64.urlsafe_b64encode(b'stream/bad').decode()}",
            json.dumps(forged).encode(),
            headers={"Nats-Rollup": "sub"},
        )
        forwarded: list[bytes] = []
        with pytest.raises(ArtifactCorruptError, match="digest mismatch"):
            async for part in stream_artifact(js, await read_artifact_info(js, "stream/bad")):
                forwarded.append(part)
        assert len(forwarded) == 2, "the last chunk is held back until the digest is checked"
