"""The API's one NATS connection: request/reply to the scheduler and publishing durable events.

The API never opens the event log: reads are `orch.v1.rpc.scheduler.<verb>` requests answered by the scheduler,
writes are events published to JetStream with their deterministic `event_id` as `Nats-Msg-Id`, acknowledged
before the HTTP answer goes out.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from nats.aio.client import Client
from nats.errors import ConnectionClosedError, MaxPayloadError, NoRespondersError, NoServersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import BucketNotFoundError, NotFoundError

from orch_api.errors import BadGateway, BadRequest, NotFound, PayloadTooLarge, SchedulerUnavailable, Unavailable
from orch_common.contracts import subjects
from orch_common.contracts.events import EventBase
from orch_common.contracts.rpc import RpcReply, RpcVerb

__all__ = ["MSG_ID_HEADER", "Bus"]

log = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"


class Bus:
    """Wraps the connection: `rpc(verb, request)` and `publish(event)`, both raising `ApiError`s."""

    def __init__(self, nc: Client, *, rpc_timeout: float, publish_timeout: float) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.rpc_timeout = rpc_timeout
        self.publish_timeout = publish_timeout

    async def rpc(self, verb: RpcVerb, request: dict[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        """Ask the scheduler; return the reply's `result` or raise NotFound / BadRequest / SchedulerUnavailable."""
        payload = json.dumps(request or {}, default=str).encode()
        if not self.nc.is_connected:
            raise Unavailable("NATS is not connected (reconnecting)", code="nats_unavailable")
        try:
            msg = await self.nc.request(subjects.rpc(verb.value), payload, timeout=timeout or self.rpc_timeout)
        except NoRespondersError:
            raise SchedulerUnavailable(f"the scheduler is not running (no responder for {verb.value})") from None
        except (NatsTimeoutError, TimeoutError):
            raise SchedulerUnavailable(f"the scheduler did not answer {verb.value} in time") from None
        except (ConnectionClosedError, NoServersError) as exc:
            raise Unavailable(f"NATS is not connected: {exc}", code="nats_unavailable") from None
        try:
            reply = RpcReply.model_validate_json(msg.data)
        except ValueError as exc:
            raise SchedulerUnavailable(f"the scheduler sent an unreadable reply to {verb.value}: {exc}") from None
        if reply.error is not None:
            code, message = reply.error.code, reply.error.message
            if code == "not_found":
                raise NotFound(message)
            if code == "bad_request":
                raise BadRequest(message)
            raise BadGateway(f"the scheduler failed {verb.value}: {message}", code=f"scheduler_{code}")
        return reply.result

    async def publish(self, event: EventBase) -> PubAck:
        """Publish a durable event and wait for JetStream's ack (a duplicate `event_id` is acked as duplicate)."""
        data = event.model_dump_json().encode()
        if not self.nc.is_connected:
            raise Unavailable("NATS is not connected (reconnecting); nothing was recorded", code="nats_unavailable")
        limit = self.nc.max_payload
        if limit and len(data) > limit:
            raise PayloadTooLarge(
                f"the {getattr(event, 'type', 'event')} event is {len(data)} bytes; NATS accepts at most {limit} "
                "bytes per message "
                "(raise max_payload in the nats-server config)",
                code="event_too_large",
            )
        try:
            return await self.js.publish(
                event.subject,
                data,
                timeout=self.publish_timeout,
                stream=subjects.EVENTS_STREAM,
                headers={MSG_ID_HEADER: event.event_id},
            )
        except (NatsTimeoutError, TimeoutError, NoRespondersError):
            raise Unavailable("JetStream did not acknowledge the event in time", code="jetstream_unavailable") from None
        except MaxPayloadError as exc:
            raise PayloadTooLarge(f"the event is too large for NATS: {exc}", code="event_too_large") from None
        except (ConnectionClosedError, NoServersError) as exc:
            raise Unavailable(f"NATS is not connected: {exc}", code="nats_unavailable") from None

    async def topology_present(self) -> bool:
        """True when the streams and buckets exist."""
        try:
            await self.js.stream_info(subjects.EVENTS_STREAM)
            await self.js.stream_info(subjects.COMMANDS_STREAM)
            await self.js.key_value(subjects.BACKENDS_BUCKET)
            await self.js.object_store(subjects.ARTIFACTS_BUCKET)
        except (NotFoundError, BucketNotFoundError, NatsTimeoutError, TimeoutError, NoRespondersError):
            return False
        return True
