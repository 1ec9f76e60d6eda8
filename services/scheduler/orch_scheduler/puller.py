"""Batches from a durable JetStream pull consumer, at a low cost per message.

nats-py's `PullSubscription.fetch` waits for each message of a batch with its own `asyncio.wait_for` (a task and a
timer per message) and, once the stream runs dry, holds a lingering request open until its timeout even after
messages came. `BatchPuller` sends the same pull requests (`$JS.API.CONSUMER.MSG.NEXT`) to a private inbox whose
subscription callback appends each message to a buffer:

    fetch(batch, wait)
      → the buffer holds messages: hand out up to `batch` of them at once
      → else, no request open: send one for `batch` messages that expires after `wait`
      → wait (at most `wait`) for the first message, let the burst behind it land, hand out what came

A request stays open until the server delivered its `batch` messages, said it expired (408) or refused it (a 4xx
status); its remaining messages land in the buffer for the next fetch, so the server fills the next batch while the
caller commits this one. A request whose expiry passed unanswered (e.g. a reconnect lost it) counts as closed. A
refusal other than "no messages" or "expired" (e.g. the consumer is gone) is logged and the next fetch backs off
for `_REFUSED_BACKOFF_S` first, so a caller that loops on `fetch` does not spin.
`close()` unsubscribes and naks whatever is buffered, so nothing delivered waits for its ack timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

__all__ = ["BatchPuller"]

log = logging.getLogger(__name__)

_STATUS = "Status"
_DESCRIPTION = "Description"
_QUIET_STATUSES = frozenset({"404", "408"})  # no messages now / the request expired: the ordinary ends
_REFUSED_BACKOFF_S = 0.5
_EXPIRY_GRACE_S = 1.0  # an open request unanswered this long after its expiry was lost


class BatchPuller:
    """Pull batches from `consumer` of `stream` over one private inbox. Not safe for concurrent `fetch` calls."""

    def __init__(self, nc: Client, stream: str, consumer: str) -> None:
        self._nc = nc
        self._next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._inbox = nc.new_inbox()
        self._sub: Subscription | None = None
        self._buffer: list[Msg] = []
        self._arrived = asyncio.Event()
        self._owed = 0  # messages the open request may still deliver (0: no request open)
        self._open_until = 0.0  # monotonic time after which the open request counts as lost
        self._refused = False  # the last request was refused (a 4xx other than 404/408): back off once

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(self._inbox, cb=self._on_msg)

    async def fetch(self, batch: int, wait: float) -> list[Msg]:
        """Up to `batch` messages; [] when none came within `wait` seconds."""
        if not self._buffer:
            if self._refused:
                self._refused = False
                await asyncio.sleep(max(wait, _REFUSED_BACKOFF_S))
            if self._owed and time.monotonic() > self._open_until:
                self._owed = 0
            if not self._owed:
                await self._request(batch, wait)
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), wait)
            # the rest of a burst arrives in the same socket reads: let the read loop hand it over
            seen, still = -1, 0
            while self._buffer and len(self._buffer) < batch and still < 2:
                still = still + 1 if len(self._buffer) == seen else 0
                seen = len(self._buffer)
                await asyncio.sleep(0)
        out, self._buffer = self._buffer[:batch], self._buffer[batch:]
        return out

    async def close(self) -> None:
        """Stop receiving; buffered messages are nak'd (redelivered at once to whoever pulls next)."""
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        buffered, self._buffer = self._buffer, []
        for msg in buffered:
            with contextlib.suppress(Exception):
                await msg.nak()
        self._owed = 0

    async def _request(self, batch: int, wait: float) -> None:
        expires_ns = max(int(wait * 1e9), 1_000_000)
        await self._nc.publish(
            self._next_subject, json.dumps({"batch": batch, "expires": expires_ns}).encode(), reply=self._inbox
        )
        self._owed = batch
        self._open_until = time.monotonic() + wait + _EXPIRY_GRACE_S

    async def _on_msg(self, msg: Msg) -> None:
        status = msg.headers.get(_STATUS) if msg.headers else None
        if status is None:
            self._buffer.append(msg)
            if self._owed:
                self._owed -= 1
            self._arrived.set()
        elif status != "100":  # not a heartbeat: 404/408 (nothing more), 409 (refused) close the request
            if status not in _QUIET_STATUSES:
                self._refused = True
                description = msg.headers.get(_DESCRIPTION, "") if msg.headers else ""
                log.warning("pull request refused: %s %s", status, description)
            self._owed = 0
            self._arrived.set()
