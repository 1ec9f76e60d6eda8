"""Every recorded websocket message and HTTP body parses into the wire models."""

from __future__ import annotations

import pytest

from orch_common.comfy.wire import (
    ExecutedMessage,
    ExecutingMessage,
    ExecutionErrorMessage,
    FeatureFlagsMessage,
    FolderType,
    HistoryEntry,
    HistoryStatus,
    JobsPage,
    MessageType,
    NodeInfo,
    NodeState,
    OutputFileItem,
    OutputText,
    OutputValue,
    ProgressStateMessage,
    PromptAccepted,
    PromptInfo,
    PromptRequest,
    QueueItem,
    QueueState,
    StatusMessage,
    SystemStats,
    UnknownMessage,
    UploadedFile,
    ValidationErrorBody,
    output_items,
    parse_ws_message,
)

from ._fixtures import FIXTURES, load_json, ws_trace, ws_trace_names


def recorded(pattern: str) -> list[str]:
    return sorted(p.name for p in FIXTURES.glob(pattern))


@pytest.mark.parametrize("name", ws_trace_names())
def test_every_recorded_text_message_parses_to_its_model(name):
    for raw in ws_trace(name):
        if raw.get("binary"):
            continue
        message = parse_ws_message(raw)
        assert not isinstance(message, UnknownMessage), raw
        assert message.type == raw["type"]
        assert message.to_wire() == raw
        assert message.model_dump(mode="json") == raw


def test_the_recordings_cover_every_modelled_message_type():
    seen = {raw["type"] for name in ws_trace_names() for raw in ws_trace(name) if not raw.get("binary")}
    assert seen == set(MessageType)


def test_a_message_parses_the_same_from_text_and_from_a_dict():
    raw = ws_trace("ws_trace_basic.jsonl")[0]
    import json

    assert parse_ws_message(json.dumps(raw)) == parse_ws_message(raw)


def test_the_first_status_carries_the_session_id_and_queue():
    first = parse_ws_message(ws_trace("ws_trace_bystander_prompt_without_client_id.jsonl")[0])
    assert isinstance(first, StatusMessage)
    assert first.data.sid == "fx-bystander"
    assert first.data.queue_remaining == 0


def test_executing_with_a_null_node_marks_the_end_of_a_prompt():
    last = parse_ws_message(ws_trace("ws_trace_basic.jsonl")[-1])
    assert isinstance(last, ExecutingMessage)
    assert last.data.node is None
    assert last.data.prompt_id


def test_the_reconnect_variant_of_executing_has_no_prompt_id():
    message = parse_ws_message({"type": "executing", "data": {"node": "7"}})
    assert isinstance(message, ExecutingMessage)
    assert message.data.node == "7"
    assert message.data.prompt_id is None


def test_an_unknown_type_is_returned_as_unknown_and_not_raised(caplog):
    message = parse_ws_message({"type": "crystools.monitor", "data": {"cpu_utilization": 3}})
    assert message == UnknownMessage(type="crystools.monitor", data={"cpu_utilization": 3})


@pytest.mark.parametrize(
    "raw",
    ["not json", "[1, 2]", '{"data": {}}', '{"type": "executing", "data": {"display_node": 1}}'],
    ids=["not-json", "not-object", "no-type", "known-type-bad-body"],
)
def test_garbage_becomes_an_unknown_message(raw):
    assert isinstance(parse_ws_message(raw), UnknownMessage)


def test_unknown_fields_are_kept():
    message = parse_ws_message(
        {"type": "execution_start", "data": {"prompt_id": "p", "timestamp": 1, "new_field": True}, "extra": 1}
    )
    assert message.model_extra == {"extra": 1}
    assert message.data.model_extra == {"new_field": True}


def test_progress_state_gives_per_node_states():
    snapshots = [
        m
        for raw in ws_trace("ws_trace_progress_ws_images.jsonl")
        if isinstance(m := parse_ws_message(raw) if not raw.get("binary") else None, ProgressStateMessage)
    ]
    assert snapshots
    assert all(node.state == NodeState.FINISHED for node in snapshots[-1].data.nodes.values())


def test_execution_error_keeps_the_exception_and_traceback():
    errors = [
        m
        for raw in ws_trace("ws_trace_runtime_error.jsonl")
        if isinstance(m := parse_ws_message(raw), ExecutionErrorMessage)
    ]
    assert len(errors) == 1
    data = errors[0].data
    assert (data.node_id, data.node_type, data.exception_type) == ("2", "ImageToMask", "IndexError")
    assert data.traceback


def test_the_server_answers_the_feature_flags_handshake_with_its_flags():
    answer = parse_ws_message(ws_trace("ws_trace_progress_ws_images_metadata.jsonl")[1])
    assert isinstance(answer, FeatureFlagsMessage)
    assert answer.data.supports_preview_metadata is True
    assert answer.data.max_upload_size == 104857600


def test_executed_outputs_walk_into_typed_items():
    executed = [
        m
        for name in ws_trace_names()
        for raw in ws_trace(name)
        if isinstance(m := parse_ws_message(raw), ExecutedMessage)
    ]
    items = [item for message in executed for item in message.data.output_items()]
    assert any(isinstance(i, OutputText) and i.text == "123" for i in items)
    files = [i for i in items if isinstance(i, OutputFileItem)]
    assert {i.file.type for i in files} == {FolderType.OUTPUT, FolderType.TEMP}


def test_output_items_cover_files_texts_and_other_values():
    ui = {
        "images": [{"filename": "a.webp", "subfolder": "s", "type": "output"}],
        "animated": [True],
        "gifs": [{"filename": "b.mp4", "subfolder": "", "type": "output", "format": "video/h264-mp4"}],
        "text": ["hello"],
        "latents": [{"filename": "c.latent", "subfolder": "", "type": "output"}],
        "result": [[1, 2]],
    }
    items = output_items("9", ui)
    kinds = [(type(i).__name__, i.kind) for i in items]
    assert kinds == [
        ("OutputFileItem", "images"),
        ("OutputFileItem", "gifs"),
        ("OutputText", "text"),
        ("OutputFileItem", "latents"),
        ("OutputValue", "result"),
    ]
    assert items[0].animated and items[0].file.subfolder == "s"
    assert items[1].file.model_extra == {"format": "video/h264-mp4"}
    assert isinstance(items[4], OutputValue)
    assert output_items("9", None) == []


@pytest.mark.parametrize("name", recorded("history_*.json"))
def test_every_recorded_history_body_parses(name):
    body = load_json(name)
    if "response" in body:
        body = body["response"]
    entries = {pid: HistoryEntry.model_validate(entry) for pid, entry in body.items()}
    assert {pid: entry.to_wire() for pid, entry in entries.items()} == body
    for prompt_id, entry in entries.items():
        assert entry.prompt.prompt_id == prompt_id
        assert entry.status is not None
        assert entry.succeeded == (entry.status.status_str == HistoryStatus.SUCCESS)


def test_history_of_a_successful_run_lists_its_output_files():
    (entry,) = (HistoryEntry.model_validate(e) for e in load_json("history_basic.json").values())
    assert entry.succeeded and entry.status.completed
    assert [f.file.filename for f in entry.output_files()] == ["fx_basic_00001_.png"]
    assert [name for name, _ in entry.status.messages] == ["execution_start", "execution_cached", "execution_success"]


@pytest.mark.parametrize("name", ["history_runtime_error.json", "history_interrupted.json"])
def test_history_of_a_failed_run_has_error_status_and_no_outputs(name):
    (entry,) = (HistoryEntry.model_validate(e) for e in load_json(name).values())
    assert entry.status.status_str == HistoryStatus.ERROR
    assert not entry.succeeded and not entry.status.completed
    assert entry.output_files() == []


@pytest.mark.parametrize("name", recorded("queue_*.json"))
def test_every_recorded_queue_body_parses_and_round_trips(name):
    body = load_json(name)
    body = body.get("queue_after", body)
    state = QueueState.model_validate(body)
    assert state.model_dump(mode="json") == body
    assert state.to_wire() == body


def test_queue_items_are_arrays_on_the_wire():
    state = QueueState.model_validate(load_json("queue_running_and_pending.json"))
    assert len(state.queue_running) == 1 and len(state.queue_pending) == 2
    running = state.queue_running[0]
    assert running.number == 16 and running.outputs_to_execute == ["6"]
    assert running.client_id == "c0462bf2b78b47b7ade43b19c775f680"
    pending_numbers = [
        QueueItem.model_validate(i).number for i in load_json("queue_running_and_pending.json")["queue_pending"]
    ]
    assert [state.queue_pending[0].number, state.queue_pending[1].number] == pending_numbers
    assert state.pending_ids()[0] == min(state.queue_pending, key=lambda i: i.number).prompt_id


def test_a_queue_item_array_must_hold_at_least_number_and_prompt_id():
    with pytest.raises(ValueError):
        QueueItem.model_validate([3])


def test_a_queue_item_keeps_elements_past_the_fifth():
    item = QueueItem.model_validate([1, "p", {}, {}, [], {"secret": "x"}])
    assert item.rest == [{"secret": "x"}]
    assert item.model_dump() == [1, "p", {}, {}, [], {"secret": "x"}]


@pytest.mark.parametrize("name", recorded("prompt_json_response_*.json"))
def test_every_recorded_prompt_acceptance_parses(name):
    body = load_json(name)
    PromptRequest.model_validate(body["request"]["json"])
    accepted = PromptAccepted.model_validate(body["response"])
    assert accepted.to_wire() == body["response"]
    assert not accepted.partial
    if body["request"]["json"].get("prompt_id"):
        assert accepted.prompt_id == body["request"]["json"]["prompt_id"]
    if body["request"]["json"].get("front"):
        assert accepted.number < 0


@pytest.mark.parametrize("name", recorded("prompt_error_*.json"))
def test_every_recorded_prompt_error_body_parses(name):
    body = load_json(name)
    if body["status"] == 400:
        parsed = ValidationErrorBody.model_validate(body["response"])
        assert parsed.to_wire() == body["response"]
        assert parsed.error.type
        for node_error in parsed.node_errors.values():
            assert node_error.errors and node_error.class_type
    elif body["status"] == 200:
        assert PromptAccepted.model_validate(body["response"]).partial
    else:
        assert body["status"] == 500 and isinstance(body["response"], str)


def test_a_prompt_request_leaves_unset_fields_out():
    assert PromptRequest(prompt={"1": {}}, client_id="c").to_json() == {"prompt": {"1": {}}, "client_id": "c"}


@pytest.mark.parametrize("name", recorded("upload_image_response*.json"))
def test_every_recorded_upload_answer_parses(name):
    body = load_json(name)
    if body["status"] != 200:
        return
    uploaded = UploadedFile.model_validate(body["response"])
    assert uploaded.to_wire() == body["response"]
    assert uploaded.type == FolderType.INPUT
    assert uploaded.as_ref().filename == uploaded.name
    expected = f"{uploaded.subfolder}/{uploaded.name}" if uploaded.subfolder else uploaded.name
    assert uploaded.input_value == expected


def test_the_whole_object_info_parses_into_node_infos():
    body = load_json("object_info.json")
    infos = {name: NodeInfo.model_validate(info) for name, info in body.items()}
    assert len(infos) == 478
    assert {name: info.to_wire() for name, info in infos.items()} == body
    blur = infos["ImageBlur"]
    assert blur.input_order["required"] == ["image", "blur_radius", "sigma"]
    assert blur.input_spec("blur_radius")[0] == "INT"
    assert blur.input_spec("nope") is None
    assert infos["SaveImage"].output_node
    assert NodeInfo.model_validate(load_json("object_info_ImageBlur.json")["ImageBlur"]) == blur


def test_system_stats_prompt_info_and_features_parse():
    stats = SystemStats.model_validate(load_json("system_stats.json"))
    assert stats.to_wire() == load_json("system_stats.json")
    assert stats.system.comfyui_version == "0.3.64"
    assert stats.devices[0].type == "cpu" and stats.devices[0].index is None
    assert PromptInfo.model_validate(load_json("prompt_get_while_running.json")).exec_info.queue_remaining == 3
    assert PromptInfo.model_validate(load_json("prompt_get.json")).exec_info.queue_remaining == 0


def test_a_jobs_page_parses():
    page = JobsPage.model_validate(
        {
            "jobs": [
                {
                    "id": "a",
                    "status": "completed",
                    "priority": 3,
                    "create_time": 1,
                    "outputs_count": 1,
                    "preview_output": {"filename": "x.png", "nodeId": "9", "mediaType": "images"},
                },
                {"id": "b", "status": "someday_new", "priority": 4},
            ],
            "pagination": {"offset": 0, "limit": 10, "total": 2, "has_more": False},
        }
    )
    assert [job.status for job in page.jobs] == ["completed", "someday_new"]
    assert page.pagination.total == 2


def test_a_message_built_in_code_serialises_like_the_server_sends_it():
    from orch_common.comfy.wire import ExecutingData, StatusData

    done = ExecutingMessage(data=ExecutingData(node=None, prompt_id="p"))
    assert done.to_wire() == {"type": "executing", "data": {"node": None, "prompt_id": "p"}}
    status = StatusMessage(data=StatusData.model_validate({"status": {"exec_info": {"queue_remaining": 2}}}))
    assert status.to_wire() == {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 2}}}}
    assert parse_ws_message(status.to_wire()) == status
    accepted = PromptAccepted(prompt_id="p", number=3)
    assert accepted.to_wire() == {"prompt_id": "p", "number": 3, "node_errors": {}}
