"""Decoding a stream message into (event, log row): the parsed event's row, the payload as the bytes came."""

from __future__ import annotations

import json

import pytest

from orch_common.contracts import events as ev
from orch_scheduler.decoding import parse_event_bytes, stream_seq
from orch_scheduler.errors import PoisonMessageError
from orch_scheduler.eventlog import record_of
from tests.scheduler.factories import registered, scheduled, submitted

MSG_ID = {"Nats-Msg-Id": "p1:saved:7"}


@pytest.mark.parametrize(
    "event",
    [submitted("j1"), scheduled("j1", "gpu-a"), registered("gpu-a"), submitted("j2", project_id="p1")],
    ids=lambda e: e.type,
)
def test_a_decoded_event_has_the_row_record_of_gives_it(event):
    payload = event.model_dump_json().encode()
    decoded, row = parse_event_bytes(payload, {"Nats-Msg-Id": event.event_id}, "delivered.on", 42)
    assert decoded == event
    assert row == record_of(event, stream_seq=42, payload=payload.decode(), subject="delivered.on")


def test_the_logged_payload_is_the_published_bytes_not_a_re_encoding():
    payload = b'{"type": "job.submitted", "job_id": "j1",   "workflow": {}, "occurred_at": "2026-01-01T00:00:00Z"}'
    event, row = parse_event_bytes(payload, None, "s", 1)
    assert isinstance(event, ev.JobSubmitted)
    assert row.payload == payload.decode()
    assert row.event_id == "j1:submitted" and row.job_id == "j1" and row.occurred_at == event.occurred_at


def test_a_well_formed_event_of_a_kind_not_folded_is_logged_under_its_message_id():
    payload = json.dumps({"type": "project.something_new", "project_id": "p1"}).encode()
    event, row = parse_event_bytes(payload, MSG_ID, "orch.events.project.p1", 7)
    assert event is None
    assert (row.event_id, row.type, row.stream_seq, row.subject) == (
        "p1:saved:7",
        "project.something_new",
        7,
        "orch.events.project.p1",
    )


@pytest.mark.parametrize(
    ("payload", "headers", "problem"),
    [
        (b"not json", MSG_ID, "not JSON"),
        (b'{"no": "type"}', MSG_ID, "not an event"),
        (b'{"type": "project.x"}', None, "not an event"),  # no message id to log it under
    ],
)
def test_what_is_not_an_event_is_poison_naming_the_problem(payload, headers, problem):
    with pytest.raises(PoisonMessageError, match=problem):
        parse_event_bytes(payload, headers, "s", 1)


def test_the_stream_sequence_is_read_off_the_ack_subject():
    assert stream_seq("$JS.ACK.ORCH_EVENTS.scheduler.1.1234.1200.1700000000000000000.5") == 1234
    assert stream_seq("$JS.ACK.hub.ACCHASH.ORCH_EVENTS.scheduler.1.99.98.1700000000000000000.0.token") == 99
