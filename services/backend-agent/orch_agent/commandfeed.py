"""The agent's commands as soon as JetStream stores them: a pull request is always waiting at the server.

::

    feed = CommandFeed(nc, "ORCH_COMMANDS", "agent-gpu-1")
    await feed.start()
    msg = await feed.next(timeout=0.5)     # None when nothing came
    leftovers = await feed.stop()          # delivered but not handed out: nak them

nats-py's `fetch` sends a request per call and, for a batch, waits until the batch is full; fetching one at a
time costs a request round trip and its bookkeeping per command. Here one request for `batch` messages (expiring
after `expires` seconds) waits at the server; the next is sent the moment it is used up, ends (408) or is lost
(the client reconnected, e.g. to a restarted nats-server; or no end seen within `expires` + 2 s). Messages arrive
on one inbox subscription and are plain JetStream messages: `ack`, `nak` and `metadata` work as usual. The
consumer is the caller's durable pull consumer, made before `start()`. Should the server say it is gone, the feed
only warns and keeps asking: re-creating it would deliver every command of the stream again, some of which ComfyUI
may no longer remember having run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

__all__ = ["CommandFeed"]

log = logging.getLogger(__name__)

_HEARTBEAT = "100"
_TIMED_OUT = "408"


class CommandFeed:
    """Keeps one pull request waiting on a durable consumer; hands out its messages in order."""

    def __init__(
        self,
        nc: Client,
        stream: str,
        consumer: str,
        *,
        batch: int = 16,
        expires: float = 5.0,
    ) -> None:
        self.nc = nc
        self.stream = stream
        self.consumer = consumer
        self.batch = batch
        self.expires = expires
        self._queue: asyncio.Queue[Msg] = asyncio.Queue()
        self._request_over = asyncio.Event()
        self._left = 0
        self._failed: str | None = None
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._inbox = ""

    async def start(self) -> None:
        self._inbox = self.nc.new_inbox()
        self._sub = await self.nc.subscribe(self._inbox, cb=self._on_message)
        self._task = asyncio.create_task(self._requests(), name=f"pull-{self.consumer}")

    async def next(self, timeout: float) -> Msg | None:
        """The next command, or None if none arrives within `timeout` seconds."""
        if not self._queue.empty():
            return self._queue.get_nowait()
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    async def stop(self) -> list[Msg]:
        """Stop asking; the messages delivered but not handed out yet (the caller naks them)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
        leftovers = []
        while not self._queue.empty():
            leftovers.append(self._queue.get_nowait())
        return leftovers

    async def _on_message(self, msg: Msg) -> None:
        status = msg.headers.get("Status") if msg.headers else None
        if status is None:
            self._queue.put_nowait(msg)
            self._left -= 1
            if self._left <= 0:
                self._request_over.set()
            return
        if status == _HEARTBEAT:
            return
        if status != _TIMED_OUT:  # 404/409 (no consumer, too many waiting, leadership change), 503 no JetStream
            self._failed = f"{status} {msg.headers.get('Description', '') if msg.headers else ''}".strip()
        self._request_over.set()

    async def _request_ended(self) -> bool:
        """Wait for the request to end; False when it was lost instead: the client reconnected (a restarted server
        forgets waiting requests), or no end came in time."""
        reconnects = self.nc.stats["reconnects"]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.expires + 2.0
        while loop.time() < deadline:
            try:
                await asyncio.wait_for(self._request_over.wait(), 0.25)
                return True
            except TimeoutError:
                if self.nc.stats["reconnects"] != reconnects and self.nc.is_connected:
                    return False
        return False

    async def _requests(self) -> None:
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.consumer}"
        body = json.dumps({"batch": self.batch, "expires": int(self.expires * 1e9)}).encode()
        while True:
            self._request_over.clear()
            self._left = self.batch
            self._failed = None
            try:
                await self.nc.publish(subject, body, reply=self._inbox)
            except Exception as exc:
                log.warning("asking for commands failed: %s", exc)
                await asyncio.sleep(0.5)
                continue
            if not await self._request_ended():
                continue  # the request was lost (the connection was re-established, or no end came): ask again
            if self._failed is not None:
                log.warning("the command consumer %s answered %s; asking again shortly", self.consumer, self._failed)
                await asyncio.sleep(0.5)
