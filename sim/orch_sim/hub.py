"""Websocket clients of the sim and ComfyUI's routing rule: `sid=None` broadcasts, `sid=X` reaches only X.

Each socket has its own outbox drained by its own writer task, so messages reach every client in the
order they were sent and a slow client never stalls the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket

__all__ = ["Client", "Hub"]

log = logging.getLogger("orch_sim")

Message = str | bytes | None  # None closes the socket


@dataclass
class Client:
    """One connected socket: its sid, negotiated feature flags and log subscription."""

    sid: str
    socket: WebSocket
    outbox: asyncio.Queue[Message] = field(default_factory=asyncio.Queue)
    feature_flags: dict[str, Any] = field(default_factory=dict)
    handshake_done: bool = False
    logs_subscribed: bool = False
    logs_size_sent: bool = False

    @property
    def wants_preview_metadata(self) -> bool:
        return bool(self.feature_flags.get("supports_preview_metadata"))


class Hub:
    """All connected clients by sid; a reconnect with a known sid replaces the old socket."""

    def __init__(self) -> None:
        self.clients: dict[str, Client] = {}

    def add(self, client: Client) -> Client | None:
        old = self.clients.get(client.sid)
        self.clients[client.sid] = client
        return old

    def remove(self, client: Client) -> None:
        if self.clients.get(client.sid) is client:
            del self.clients[client.sid]

    def get(self, sid: str | None) -> Client | None:
        return None if sid is None else self.clients.get(sid)

    def _targets(self, sid: str | None) -> list[Client]:
        if sid is None:
            return list(self.clients.values())
        client = self.clients.get(sid)
        return [client] if client is not None else []

    def send_json(self, event: str, data: Any, sid: str | None = None) -> None:
        text = json.dumps({"type": event, "data": data})
        for client in self._targets(sid):
            client.outbox.put_nowait(text)

    def send_bytes(self, frame: bytes, sid: str | None = None) -> None:
        for client in self._targets(sid):
            client.outbox.put_nowait(frame)

    def send_logs(self, entries: list[dict[str, str]]) -> None:
        for client in list(self.clients.values()):
            if not client.logs_subscribed:
                continue
            size = None if client.logs_size_sent else {"cols": 80, "rows": 24}
            client.logs_size_sent = True
            client.outbox.put_nowait(json.dumps({"type": "logs", "data": {"entries": entries, "size": size}}))

    def close_all(self) -> None:
        for client in list(self.clients.values()):
            client.outbox.put_nowait(None)
        self.clients.clear()

    @staticmethod
    async def drain(client: Client) -> None:
        """Write the client's outbox to its socket until closed."""
        while True:
            message = await client.outbox.get()
            if message is None:
                with contextlib.suppress(Exception):
                    await client.socket.close()
                return
            try:
                if isinstance(message, bytes):
                    await client.socket.send_bytes(message)
                else:
                    await client.socket.send_text(message)
            except Exception:  # the peer went away; the reader side cleans up
                log.debug("dropping messages for disconnected client %s", client.sid)
                return
