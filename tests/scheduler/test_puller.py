"""BatchPuller: batches from a durable pull consumer, every message handed out once, nothing stranded by close."""

from __future__ import annotations

import asyncio

from nats.js.api import AckPolicy

from orch_scheduler.puller import BatchPuller

STREAM, CONSUMER = "PULLTEST", "puller"


async def _stream(nc, n: int) -> None:
    js = nc.jetstream()
    await js.add_stream(name=STREAM, subjects=["pulltest.>"])
    await js.add_consumer(STREAM, durable_name=CONSUMER, ack_policy=AckPolicy.EXPLICIT, ack_wait=30)
    for i in range(n):
        await js.publish(f"pulltest.{i}", str(i).encode(), stream=STREAM)


async def _drain(puller: BatchPuller, want: int, batch: int = 100) -> list[int]:
    got: list[int] = []
    for _ in range(200):
        if len(got) >= want:
            break
        msgs = await puller.fetch(batch, 0.2)
        assert len(msgs) <= batch
        for msg in msgs:
            got.append(int(msg.data))
            await msg.ack()
    return got


async def test_every_stored_message_is_handed_out_once_in_stream_order(nc):
    await _stream(nc, 350)
    puller = BatchPuller(nc, STREAM, CONSUMER)
    await puller.start()
    try:
        assert await _drain(puller, 350) == list(range(350))
        assert await puller.fetch(100, 0.1) == []
    finally:
        await puller.close()


async def test_a_message_published_while_waiting_is_handed_out_without_waiting_for_the_full_batch(nc):
    await _stream(nc, 0)
    puller = BatchPuller(nc, STREAM, CONSUMER)
    await puller.start()
    try:
        fetch = asyncio.create_task(puller.fetch(1000, 5.0))
        await asyncio.sleep(0.1)
        await nc.jetstream().publish("pulltest.x", b"7", stream=STREAM)
        msgs = await asyncio.wait_for(fetch, 2.0)
        assert [int(m.data) for m in msgs] == [7]
    finally:
        await puller.close()


async def test_messages_buffered_at_close_go_to_the_next_puller_at_once(nc):
    await _stream(nc, 50)
    first = BatchPuller(nc, STREAM, CONSUMER)
    await first.start()
    got = [int(m.data) for m in await first.fetch(10, 1.0)]
    await first.close()  # nothing acked: the 10 handed out wait for ack_wait, the buffered rest is nak'd
    second = BatchPuller(nc, STREAM, CONSUMER)
    await second.start()
    try:
        rest = await _drain(second, 50 - len(got))
        assert sorted(rest) == list(range(len(got), 50))
    finally:
        await second.close()


async def test_a_refused_pull_hands_out_nothing_and_says_why(nc, caplog):
    await nc.jetstream().add_stream(name=STREAM, subjects=["pulltest.>"])
    puller = BatchPuller(nc, STREAM, "no-such-consumer")
    await puller.start()
    try:
        assert await puller.fetch(10, 0.2) == []
        assert await puller.fetch(10, 0.2) == []  # backs off first, then asks again
    finally:
        await puller.close()
    assert any("pull request refused" in r.getMessage() for r in caplog.records)
