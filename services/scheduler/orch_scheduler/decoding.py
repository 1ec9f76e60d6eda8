"""Stream messages → (event, log record): the scheduler's decoding of what the consumer delivers.

A message that is not an event at all is a `PoisonMessageError` (the consumer terms it); a well-formed event of a
kind the scheduler does not fold is logged with `None` as its event.
"""

from __future__ import annotations

import json
from typing import Any

from nats.aio.msg import Msg
from nats.js.api import Header
from pydantic import ValidationError

from orch_common.contracts import events as ev
from orch_scheduler.errors import PoisonMessageError
from orch_scheduler.eventlog import LogRecord

__all__ = ["parse_event_bytes", "parse_message", "stream_seq"]


def parse_message(msg: Msg) -> tuple[Any, LogRecord]:
    """The event of a stream message and its log row; the event is None for a well-formed kind we do not fold."""
    return parse_event_bytes(msg.data, msg.headers, msg.subject, stream_seq(msg.reply) if msg.reply else None)


def parse_event_bytes(
    payload: bytes, headers: dict[str, str] | None, subject: str, seq: int | None
) -> tuple[Any, LogRecord]:
    """The event in `payload` and its log row: the payload is logged as it came (not re-encoded), the routing
    columns are read off the parsed model's fields (no second parse)."""
    try:
        event = ev.parse_event(payload)
    except ValidationError as exc:
        return None, _unfolded(payload, headers, subject, seq, exc)
    fields = event.__dict__  # a kind without one of the routing columns leaves it None
    get = fields.get
    return event, LogRecord(
        event.event_id,
        fields["type"],
        payload.decode(),
        seq,
        get("job_id"),
        get("backend_id"),
        get("project_id"),
        subject,
        get("occurred_at"),
    )


def _unfolded(
    payload: bytes, headers: dict[str, str] | None, subject: str, seq: int | None, exc: ValidationError
) -> LogRecord:
    """The log row of a well-formed event of a kind the scheduler does not fold (e.g. project runs)."""
    msg_id = (headers or {}).get(Header.MSG_ID.value)
    try:
        data = json.loads(payload)
    except ValueError:
        raise PoisonMessageError(f"not JSON: {payload[:80]!r}") from exc
    if not (msg_id and isinstance(data, dict) and isinstance(data.get("type"), str)):
        raise PoisonMessageError(f"not an event: {exc.errors(include_url=False)[:3]}") from exc
    return LogRecord(event_id=msg_id, type=data["type"], payload=payload.decode(), stream_seq=seq, subject=subject)


def stream_seq(reply: str) -> int:
    """The stream sequence in a JetStream ack subject (`msg.metadata` builds far more, at ~10x the cost)."""
    tokens = reply.split(".")
    if len(tokens) == 9:  # $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>
        return int(tokens[5])
    if len(tokens) >= 12:  # $JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<stream seq>.…
        return int(tokens[7])
    return int(Msg.Metadata._from_reply(reply).sequence.stream)
