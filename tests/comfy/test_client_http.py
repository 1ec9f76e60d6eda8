"""ComfyClient over HTTP, against recorded ComfyUI answers replayed by httpx MockTransport."""

from __future__ import annotations

import hashlib
import json
import socket
import uuid

import httpx
import pytest

from orch_common.comfy.client import ComfyClient
from orch_common.comfy.errors import (
    ComfyBadRequest,
    ComfyConnectionError,
    ComfyHTTPError,
    ComfyNotFound,
    ComfyOriginRejected,
    ComfyProtocolError,
    ComfyServerError,
    ComfyTimeout,
    ComfyValidationError,
)
from orch_common.comfy.object_info_cache import ObjectInfoCache
from orch_common.comfy.wire import FolderType, HistoryStatus, OutputFile

from ._fixtures import FIXTURES, load_json
from ._recorded_server import RecordedServer, json_response, recorded_prompt_answer, recorded_view

BASE = "http://comfy.test:8188"
BASIC_PROMPT = json.loads((FIXTURES / "workflows" / "api_basic.json").read_text())


def client_for(server: RecordedServer, **kwargs) -> ComfyClient:
    return ComfyClient(BASE, transport=server.transport, **kwargs)


def prompt_error_files(status: int) -> list[str]:
    return sorted(p.name for p in FIXTURES.glob("prompt_error_*.json") if load_json(p.name)["status"] == status)


async def test_a_prompt_is_submitted_under_the_clients_id_with_the_chosen_prompt_id():
    recorded = load_json("prompt_json_response_client_prompt_id.json")["response"]

    def echo_prompt_id(request):
        return json_response({**recorded, "prompt_id": json.loads(request.content)["prompt_id"]})

    server = RecordedServer().on("POST", "/prompt", echo_prompt_id)
    chosen = str(uuid.uuid4())
    async with client_for(server, client_id="agent-1") as comfy:
        accepted = await comfy.submit_prompt(BASIC_PROMPT, prompt_id=chosen, extra_data={"k": 1})
    assert accepted.prompt_id == chosen and not accepted.partial
    sent = server.last_json()
    assert sent == {"prompt": BASIC_PROMPT, "client_id": "agent-1", "prompt_id": chosen, "extra_data": {"k": 1}}
    assert "origin" not in server.requests[-1].headers


async def test_front_number_and_partial_targets_are_sent_only_when_asked():
    server = RecordedServer().on("POST", "/prompt", recorded_prompt_answer("prompt_json_response_front.json"))
    async with client_for(server) as comfy:
        accepted = await comfy.submit_prompt(BASIC_PROMPT, front=True, partial_execution_targets=["4"])
        assert accepted.number < 0
        assert server.last_json()["front"] is True
        assert server.last_json()["partial_execution_targets"] == ["4"]
        await comfy.submit_prompt(BASIC_PROMPT, number=7.5)
        assert server.last_json() == {"prompt": BASIC_PROMPT, "client_id": comfy.client_id, "number": 7.5}


@pytest.mark.parametrize("bad", ["job-1", str(uuid.uuid4()).upper(), uuid.uuid4().hex])
async def test_a_prompt_id_that_is_not_a_canonical_uuid_is_refused_before_sending(bad):
    # 0.3.64 accepted "fx-pending-d34c71ac" (prompt_json_response_client_prompt_id.json); newer servers do not.
    server = RecordedServer()
    async with client_for(server) as comfy:
        with pytest.raises(ValueError, match="canonical lowercase UUID"):
            await comfy.submit_prompt(BASIC_PROMPT, prompt_id=bad)
    assert server.requests == []


@pytest.mark.parametrize("name", prompt_error_files(400))
async def test_a_refused_prompt_raises_a_validation_error_with_the_recorded_types(name):
    recorded = load_json(name)
    server = RecordedServer().on("POST", "/prompt", recorded_prompt_answer(name))
    async with client_for(server) as comfy:
        with pytest.raises(ComfyValidationError) as caught:
            await comfy.submit_prompt(BASIC_PROMPT)
    error = caught.value
    assert error.status == 400
    assert error.error_type == recorded["response"]["error"]["type"]
    assert error.node_error_types() == {
        node_id: [e["type"] for e in node["errors"]] for node_id, node in recorded["response"]["node_errors"].items()
    }
    assert error.error_type in str(error)
    for node_id, node in recorded["response"]["node_errors"].items():
        assert f"node {node_id} ({node['class_type']})" in str(error)
        break


def test_the_validation_message_names_the_first_failing_node_and_input():
    from orch_common.comfy.errors import error_for_response

    body = load_json("prompt_error_value_below_min.json")["response"]
    response = httpx.Response(400, json=body, request=httpx.Request("POST", f"{BASE}/prompt"))
    error = error_for_response(response)
    assert isinstance(error, ComfyValidationError)
    assert str(error) == (
        "prompt_outputs_failed_validation: Prompt outputs failed validation; "
        "node 1 (EmptyImage) input 'width': value_smaller_than_min: Value 0 smaller than min of 1"
    )


@pytest.mark.parametrize(
    ("fixture", "said"),
    [
        ("prompt_error_loadimage_missing_file.json", "(image - Invalid image file: does_not_exist.png)"),
        ("prompt_error_invalid_combo_value.json", "(upscale_method: 'nope' not in ['nearest-exact', 'bilinear',"),
        ("prompt_error_bad_link_type_mismatch.json", "(image, received_type(MASK) mismatch input_type(IMAGE))"),
    ],
)
def test_the_validation_message_carries_what_comfyui_says_is_wrong(fixture: str, said: str) -> None:
    from orch_common.comfy.errors import error_for_response

    body = load_json(fixture)["response"]
    response = httpx.Response(400, json=body, request=httpx.Request("POST", f"{BASE}/prompt"))
    assert said in str(error_for_response(response))


def test_a_long_node_error_detail_is_cut_short() -> None:
    from orch_common.comfy.errors import error_for_response

    body = load_json("prompt_error_invalid_combo_value.json")["response"]
    node = next(iter(body["node_errors"].values()))
    choices = ", ".join(f"'m{i}.safetensors'" for i in range(500))
    node["errors"][0]["details"] = f"ckpt_name: 'x' not in [{choices}]"
    response = httpx.Response(400, json=body, request=httpx.Request("POST", f"{BASE}/prompt"))
    message = str(error_for_response(response))
    assert "(ckpt_name: 'x' not in ['m0.safetensors'" in message and "m499" not in message
    assert message.endswith("…)")


@pytest.mark.parametrize("name", prompt_error_files(500))
async def test_a_server_failure_on_submit_raises_a_server_error_with_its_text(name):
    server = RecordedServer().on("POST", "/prompt", recorded_prompt_answer(name))
    async with client_for(server) as comfy:
        with pytest.raises(ComfyServerError) as caught:
            await comfy.submit_prompt(BASIC_PROMPT)
    assert caught.value.status == 500
    assert "Server got itself in trouble" in caught.value.body
    assert "Server got itself in trouble" in str(caught.value)


@pytest.mark.parametrize("name", prompt_error_files(200))
async def test_a_partly_valid_prompt_is_accepted_as_partial_not_as_plain_success(name):
    server = RecordedServer().on("POST", "/prompt", recorded_prompt_answer(name))
    async with client_for(server) as comfy:
        accepted = await comfy.submit_prompt(BASIC_PROMPT)
    assert accepted.partial
    assert accepted.node_errors == {
        k: v for k, v in accepted.node_errors.items() if k in load_json(name)["response"]["node_errors"]
    }


async def test_queue_and_prompt_status_read_the_recorded_queue():
    server = (
        RecordedServer()
        .on("GET", "/queue", load_json("queue_running_and_pending.json"))
        .on("GET", "/prompt", load_json("prompt_get_while_running.json"))
    )
    async with client_for(server) as comfy:
        queue = await comfy.queue()
        assert len(queue.queue_running) == 1 and len(queue.queue_pending) == 2
        assert await comfy.prompt_status() == 3


async def test_history_by_id_and_by_page():
    (prompt_id,) = load_json("history_basic.json")
    server = (
        RecordedServer()
        .on("GET", f"/history/{prompt_id}", load_json("history_basic.json"))
        .on("GET", "/history/does-not-exist", load_json("history_unknown_id.json")["response"])
        .on("GET", "/history", load_json("history_max_items_2.json"))
    )
    async with client_for(server) as comfy:
        entries = await comfy.history(prompt_id)
        assert entries[prompt_id].status.status_str == HistoryStatus.SUCCESS
        assert await comfy.history("does-not-exist") == {}
        page = await comfy.history(max_items=2, offset=0)
        assert len(page) == 2
        assert dict(server.requests[-1].url.params) == {"max_items": "2", "offset": "0"}


async def test_view_returns_the_recorded_bytes_and_content_type():
    server = RecordedServer().on("GET", "/view", recorded_view("view_basic"))
    async with client_for(server) as comfy:
        result = await comfy.view("fx_basic_00001_.png")
        assert result.content == (FIXTURES / "view_basic.png").read_bytes()
        assert result.content_type == "image/png"
        assert dict(server.requests[-1].url.params) == {
            "filename": "fx_basic_00001_.png",
            "subfolder": "",
            "type": "output",
        }
        await comfy.view("x.png", subfolder="s", type=FolderType.TEMP, preview="webp;50", channel="a")
        assert dict(server.requests[-1].url.params) == {
            "filename": "x.png",
            "subfolder": "s",
            "type": "temp",
            "preview": "webp;50",
            "channel": "a",
        }


async def test_a_missing_view_file_is_not_found_and_an_escaping_subfolder_is_not_an_origin_problem():
    server = RecordedServer().on("GET", "/view", lambda r: httpx.Response(404 if "nope" in str(r.url) else 403))
    async with client_for(server) as comfy:
        with pytest.raises(ComfyNotFound):
            await comfy.view("nope_00001_.png")
        with pytest.raises(ComfyHTTPError) as caught:
            await comfy.view("passwd", subfolder="../../etc")
    assert not isinstance(caught.value, ComfyOriginRejected)
    assert caught.value.status == 403


async def test_an_upload_sends_multipart_fields_and_returns_where_the_file_went():
    png = (FIXTURES / "upload_source.png").read_bytes()
    server = RecordedServer().on(
        "POST", "/upload/image", load_json("upload_image_response_name_clash.json")["response"]
    )
    async with client_for(server) as comfy:
        uploaded = await comfy.upload_image(png, "fx_upload.png", subfolder="", overwrite=False)
    assert uploaded.name == "fx_upload (1).png" and uploaded.type == FolderType.INPUT
    body = server.requests[-1].content
    assert b'name="image"; filename="fx_upload.png"' in body and png in body
    assert b'name="overwrite"\r\n\r\nfalse' in body and b'name="type"\r\n\r\ninput' in body


async def test_an_upload_without_a_file_is_a_bad_request():
    server = RecordedServer().on("POST", "/upload/image", httpx.Response(400))
    async with client_for(server) as comfy:
        with pytest.raises(ComfyBadRequest):
            await comfy.upload_image(b"", "x.png")


async def test_a_mask_upload_names_its_original():
    server = RecordedServer().on("POST", "/upload/mask", load_json("upload_image_response.json")["response"])
    async with client_for(server) as comfy:
        await comfy.upload_mask(b"png", "mask.png", original_ref=OutputFile(filename="a.png", type="input"))
        body = server.requests[-1].content
        assert b'{"filename": "a.png", "subfolder": "", "type": "input"}' in body
        with pytest.raises(ValueError, match="filename"):
            await comfy.upload_mask(b"png", "mask.png", original_ref={"subfolder": "x"})


async def test_the_whole_object_info_is_cached_by_content_hash():
    body = (FIXTURES / "object_info.json").read_bytes()
    changed = json.dumps({"OnlyNode": {}}).encode()
    bodies = [body, body, changed]
    server = RecordedServer().on("GET", "/object_info", lambda r: httpx.Response(200, content=bodies.pop(0)))
    cache = ObjectInfoCache()
    async with client_for(server, object_info_cache=cache) as comfy:
        with pytest.raises(LookupError):
            comfy.object_info_hash()
        first = await comfy.object_info()
        assert len(first) == 478
        assert comfy.object_info_hash() == hashlib.sha256(body).hexdigest() == cache.hash(BASE)
        again = await comfy.object_info()
        assert again is first
        third = await comfy.object_info()
        assert third == {"OnlyNode": {}} and cache.get(BASE) is third
        assert comfy.object_info_hash() == hashlib.sha256(changed).hexdigest()


async def test_one_object_info_class_is_fetched_raw():
    server = (
        RecordedServer()
        .on("GET", "/object_info/ImageBlur", load_json("object_info_ImageBlur.json"))
        .on("GET", "/object_info/NoSuchNodeXYZ", load_json("object_info_unknown_node.json")["response"])
    )
    async with client_for(server) as comfy:
        assert list(await comfy.object_info("ImageBlur")) == ["ImageBlur"]
        assert await comfy.object_info("NoSuchNodeXYZ") == {}


async def test_system_stats_and_features():
    server = (
        RecordedServer()
        .on("GET", "/system_stats", load_json("system_stats.json"))
        .on("GET", "/features", load_json("features.json"))
    )
    async with client_for(server) as comfy:
        assert (await comfy.system_stats()).system.comfyui_version == "0.3.64"
        assert (await comfy.features())["supports_preview_metadata"] is True


async def test_queue_control_requests_send_the_documented_bodies():
    server = RecordedServer()
    for path in ("/interrupt", "/queue", "/free"):
        server.on("POST", path, httpx.Response(200))
    async with client_for(server) as comfy:
        await comfy.interrupt()
        assert server.last_json() == {}
        await comfy.interrupt("p1")
        assert server.last_json() == {"prompt_id": "p1"}
        await comfy.delete_from_queue(["a", "b"])
        assert server.last_json() == {"delete": ["a", "b"]}
        await comfy.clear_queue()
        assert server.last_json() == {"clear": True}
        await comfy.free(unload_models=True, free_memory=True)
        assert server.last_json() == {"unload_models": True, "free_memory": True}


async def test_jobs_is_none_on_a_server_without_the_jobs_api():
    async with client_for(RecordedServer()) as comfy:
        assert await comfy.jobs() is None


async def test_jobs_parses_a_page_and_joins_status_filters():
    page = {
        "jobs": [{"id": "a", "status": "pending", "priority": 1}],
        "pagination": {"offset": 0, "limit": 5, "total": 1, "has_more": False},
    }
    server = RecordedServer().on("GET", "/api/jobs", page)
    async with client_for(server) as comfy:
        result = await comfy.jobs(status=["pending", "in_progress"], limit=5)
    assert result is not None and result.jobs[0].id == "a"
    assert dict(server.requests[-1].url.params) == {"status": "pending,in_progress", "limit": "5"}


async def test_a_timeout_is_a_comfy_timeout():
    def slow(request):
        raise httpx.ReadTimeout("read timed out", request=request)

    async with client_for(RecordedServer().on("GET", "/queue", slow)) as comfy:
        with pytest.raises(ComfyTimeout):
            await comfy.queue()


async def test_a_refused_connection_is_a_connection_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with ComfyClient(f"http://127.0.0.1:{port}", timeout=5) as comfy:
        with pytest.raises(ComfyConnectionError, match="cannot reach"):
            await comfy.queue()


async def test_an_unresolvable_host_is_a_connection_error():
    def dns_failure(request):
        raise httpx.ConnectError("[Errno -2] Name or service not known", request=request)

    async with client_for(RecordedServer().on("GET", "/queue", dns_failure)) as comfy:
        with pytest.raises(ComfyConnectionError):
            await comfy.queue()


async def test_a_403_with_an_empty_body_is_the_origin_check():
    server = RecordedServer().on("POST", "/prompt", httpx.Response(403))
    async with client_for(server) as comfy:
        with pytest.raises(ComfyOriginRejected, match="Origin"):
            await comfy.submit_prompt(BASIC_PROMPT)


async def test_a_reply_that_is_not_json_is_a_protocol_error():
    server = (
        RecordedServer()
        .on("GET", "/queue", httpx.Response(200, text="<html>proxy</html>"))
        .on("GET", "/system_stats", json_response({"devices": []}))
        .on("GET", "/object_info", json_response([1, 2]))
    )
    async with client_for(server) as comfy:
        with pytest.raises(ComfyProtocolError):
            await comfy.queue()
        with pytest.raises(ComfyProtocolError):
            await comfy.system_stats()
        with pytest.raises(ComfyProtocolError):
            await comfy.object_info()


def test_a_base_url_must_be_http():
    with pytest.raises(ValueError, match="http"):
        ComfyClient("127.0.0.1:8188")
