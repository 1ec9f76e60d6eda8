"""`publish_many`: many durable events published pipelined (`js.publish_async`), every ack awaited.

One `Bus.publish` per event waits a round trip to JetStream before the next is sent; a batch of submissions
instead sends all its events at once and then collects the acks. Sizes are checked before anything is sent, so
an event NATS would refuse never leaves half a batch stored. If some acks do not come, the error says which
events are stored and which are not (their ids are deterministic, so publishing them again is deduplicated).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from nats.errors import ConnectionClosedError, NoServersError
from nats.js.errors import TooManyStalledMsgsError

from orch_api.bus import MSG_ID_HEADER, Bus
from orch_api.errors import PayloadTooLarge, Unavailable
from orch_common.contracts import subjects
from orch_common.contracts.events import EventBase

__all__ = ["encode_checked", "publish_many"]


def encode_checked(bus: Bus, events: Sequence[EventBase]) -> list[bytes]:
    """Each event's JSON, or `PayloadTooLarge` naming the first one (by index) above NATS's max_payload."""
    limit = bus.nc.max_payload
    encoded = []
    for index, event in enumerate(events):
        data = event.model_dump_json().encode()
        if limit and len(data) > limit:
            raise PayloadTooLarge(
                f"jobs[{index}]: the {getattr(event, 'type', 'event')} event is {len(data)} bytes; NATS accepts at "
                f"most {limit} bytes per message (raise max_payload in the nats-server config)",
                code="event_too_large",
                extra={"index": index},
            )
        encoded.append(data)
    return encoded


async def publish_many(bus: Bus, events: Sequence[EventBase], encoded: Sequence[bytes]) -> None:
    """Publish `events` (as `encoded`) to the events stream and wait until JetStream has acked every one."""
    if not bus.nc.is_connected:
        raise Unavailable("NATS is not connected (reconnecting); nothing was recorded", code="nats_unavailable")
    futures: list[asyncio.Future[object]] = []
    try:
        for event, data in zip(events, encoded, strict=True):
            future = await bus.js.publish_async(
                event.subject,
                data,
                wait_stall=bus.publish_timeout,
                stream=subjects.EVENTS_STREAM,
                headers={MSG_ID_HEADER: event.event_id},
            )
            futures.append(future)  # type: ignore[arg-type]
    except (ConnectionClosedError, NoServersError, TooManyStalledMsgsError) as exc:
        _raise_partial(events, futures, f"publishing stopped after {len(futures)} of {len(events)} events: {exc}")
    if futures:
        await asyncio.wait(futures, timeout=bus.publish_timeout)
    if len(futures) < len(events) or any(not f.done() or f.cancelled() or f.exception() for f in futures):
        _raise_partial(events, futures, "JetStream did not acknowledge every event in time")


def _raise_partial(events: Sequence[EventBase], futures: list[asyncio.Future[object]], why: str) -> None:
    stored = [
        str(getattr(event, "job_id", event.event_id))
        for event, future in zip(events, futures, strict=False)
        if future.done() and not future.cancelled() and future.exception() is None
    ]
    for future in futures:
        if not future.done():
            future.cancel()
    raise Unavailable(
        f"{why}; {len(stored)} of {len(events)} are stored. Send the batch again with the same Idempotency-Key "
        "to store the rest (what is stored already is deduplicated)",
        code="jetstream_unavailable",
        extra={"stored_ids": stored},
    )
