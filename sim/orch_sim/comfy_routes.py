"""ComfyUI's core HTTP routes and `/ws`, served under both `/x` and `/api/x`."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
import sys
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil
from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from starlette.datastructures import UploadFile
from starlette.responses import Response

from orch_sim.app_state import SimServer
from orch_sim.files import FileError, read_view, save_upload
from orch_sim.http_util import empty, json_response, server_error
from orch_sim.hub import Client, Hub
from orch_sim.validation import validate_prompt

__all__ = ["COMFYUI_VERSION", "router", "ws_router"]

COMFYUI_VERSION = "0.3.64"
FRONTEND_VERSION = "1.27.10"
TEMPLATES_VERSION = "0.1.95"
PYTORCH_VERSION = "2.14.1+cu130"

MODEL_FOLDERS = [
    "checkpoints", "configs", "loras", "vae", "text_encoders", "diffusion_models", "clip_vision", "style_models",
    "embeddings", "diffusers", "vae_approx", "controlnet", "gligen", "upscale_models", "custom_nodes",
    "hypernetworks", "photomaker", "classifiers", "model_patches", "audio_encoders",
]
_NO_EXPERIMENT = {"configs", "custom_nodes"}
_CANONICAL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

router = APIRouter()
ws_router = APIRouter()


def sim_of(request: Request | WebSocket) -> SimServer:
    server: SimServer = request.app.state.sim
    return server


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


# -- prompts and queue ---------------------------------------------------------------------------------


@router.get("/prompt")
async def get_prompt(request: Request) -> Response:
    return json_response({"exec_info": {"queue_remaining": sim_of(request).queue.remaining}})


@router.post("/prompt")
async def post_prompt(request: Request) -> Response:
    sim = sim_of(request)
    sim.log_line("got prompt")
    try:
        body = json.loads(await request.body())
        return _accept_prompt(sim, body)
    except Exception:  # ComfyUI answers any crash in this handler with aiohttp's bare 500
        return server_error()


def _accept_prompt(sim: SimServer, body: Any) -> Response:
    if isinstance(body, dict) and "number" in body:
        number: float = float(body["number"])
    else:
        number = sim.next_number(bool(isinstance(body, dict) and body.get("front")))
    if not isinstance(body, dict) or "prompt" not in body:
        error = {"type": "no_prompt", "message": "No prompt provided", "details": "No prompt provided",
                 "extra_info": {}}
        return json_response({"error": error, "node_errors": {}}, status=400)
    prompt = body["prompt"]
    if not isinstance(prompt, dict):
        raise TypeError("prompt must be an object")
    if "prompt_id" in body:
        prompt_id = str(body["prompt_id"])
        if not sim.config.accept_any_prompt_id and not _CANONICAL_UUID.match(prompt_id):
            error = {"type": "invalid_prompt_id", "message": "Invalid prompt_id",
                     "details": f"prompt_id must be a lowercase hyphenated UUID, got {prompt_id!r}",
                     "extra_info": {}}
            return json_response({"error": error, "node_errors": {}}, status=400)
    else:
        prompt_id = str(uuid.uuid4())
    targets = body.get("partial_execution_targets")
    result = validate_prompt(prompt, sim.catalog, lambda cls, inputs: sim.nodes.validate_inputs(cls, inputs, sim.dirs),
                             sim.nodes.validated_inputs, targets if isinstance(targets, list) else None)
    given = body.get("extra_data")
    extra_data: dict[str, Any] = given if isinstance(given, dict) else {}
    if "client_id" in body:
        extra_data["client_id"] = body["client_id"]
    if not result.ok:
        return json_response({"error": result.error, "node_errors": result.node_errors}, status=400)
    sim.queue.put((number, prompt_id, prompt, extra_data, result.outputs))
    return json_response({"prompt_id": prompt_id, "number": number, "node_errors": result.node_errors})


@router.get("/queue")
async def get_queue(request: Request) -> Response:
    return json_response(sim_of(request).queue.snapshot())


@router.post("/queue")
async def post_queue(request: Request) -> Response:
    sim = sim_of(request)
    body = await _json_body(request)
    if isinstance(body, dict):
        if body.get("clear"):
            sim.queue.clear()
        if isinstance(body.get("delete"), list):
            sim.queue.delete([str(x) for x in body["delete"]])
    return empty()


@router.post("/interrupt")
async def post_interrupt(request: Request) -> Response:
    body = await _json_body(request)
    prompt_id = body.get("prompt_id") if isinstance(body, dict) else None
    sim_of(request).runner.request_interrupt(str(prompt_id) if prompt_id is not None else None)
    return empty()


@router.post("/free")
async def post_free(request: Request) -> Response:
    body = await _json_body(request)
    if isinstance(body, dict):
        free_memory = bool(body.get("free_memory", False))
        sim_of(request).runner.request_free(bool(body.get("unload_models", free_memory)), free_memory)
    return empty()


@router.get("/history")
async def get_history(request: Request, max_items: int | None = None, offset: int = -1) -> Response:
    return json_response(sim_of(request).queue.get_history(max_items, offset))


@router.get("/history/{prompt_id}")
async def get_history_entry(request: Request, prompt_id: str) -> Response:
    history = sim_of(request).queue.history
    return json_response({prompt_id: history[prompt_id]} if prompt_id in history else {})


@router.post("/history")
async def post_history(request: Request) -> Response:
    queue = sim_of(request).queue
    body = await _json_body(request)
    if isinstance(body, dict):
        if body.get("clear"):
            queue.clear_history()
        if isinstance(body.get("delete"), list):
            queue.delete_history([str(x) for x in body["delete"]])
    return empty()


# -- catalogue and server facts --------------------------------------------------------------------------


@router.get("/object_info")
async def get_object_info(request: Request) -> Response:
    sim = sim_of(request)
    if sim.faults.slow_object_info > 0:
        await asyncio.sleep(sim.faults.slow_object_info)
    return json_response(sim.catalog.all_info())


@router.get("/object_info/{node_class}")
async def get_object_info_class(request: Request, node_class: str) -> Response:
    catalog = sim_of(request).catalog
    return json_response({node_class: catalog.info(node_class)} if node_class in catalog else {})


def _device(sim: SimServer, ram_total: int, ram_free: int) -> dict[str, Any]:
    if sim.gpu is None:
        return {"name": "cpu", "type": "cpu", "index": None, "vram_total": ram_total, "vram_free": ram_free,
                "torch_vram_total": ram_total, "torch_vram_free": ram_free}
    memory = sim.gpu.memory()
    return {"name": f"cuda:0 {sim.config.gpu_name} : cudaMallocAsync", "type": "cuda", "index": 0,
            "vram_total": memory.total, "vram_free": memory.free,
            "torch_vram_total": memory.torch_total, "torch_vram_free": memory.torch_free}


@functools.lru_cache(maxsize=8)
def _installed_version(package: str, fallback: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return fallback


@router.get("/system_stats")
async def get_system_stats(request: Request) -> Response:
    sim = sim_of(request)
    memory = psutil.virtual_memory()
    return json_response({
        "system": {
            "os": "posix", "ram_total": memory.total, "ram_free": memory.available,
            "comfyui_version": COMFYUI_VERSION, "required_frontend_version": FRONTEND_VERSION,
            "installed_templates_version": _installed_version("comfyui-workflow-templates", TEMPLATES_VERSION),
            "required_templates_version": TEMPLATES_VERSION, "python_version": sys.version,
            "pytorch_version": PYTORCH_VERSION, "embedded_python": False, "argv": list(sys.argv),
        },
        "devices": [_device(sim, memory.total, memory.available)],
    })


@router.get("/features")
async def get_features(request: Request) -> Response:
    return json_response(server_features(sim_of(request)))


def server_features(sim: SimServer) -> dict[str, Any]:
    return {"supports_preview_metadata": True, "max_upload_size": sim.config.max_upload_size}


@router.get("/embeddings")
async def get_embeddings(request: Request) -> Response:
    return json_response([Path(name).stem for name in sim_of(request).models.get("embeddings", [])])


def _folders(sim: SimServer) -> list[str]:
    return MODEL_FOLDERS + [name for name in sim.models if name not in MODEL_FOLDERS]


@router.get("/models")
async def get_models(request: Request) -> Response:
    return json_response(_folders(sim_of(request)))


@router.get("/models/{folder}")
async def get_model_files(request: Request, folder: str) -> Response:
    sim = sim_of(request)
    if folder not in _folders(sim):
        return empty(404)
    return json_response(sorted(sim.models.get(folder, [])))


@router.get("/experiment/models")
async def get_experiment_models(request: Request) -> Response:
    sim = sim_of(request)
    return json_response([{"name": name, "folders": [str(sim.root / "models" / name)]}
                          for name in _folders(sim) if name not in _NO_EXPERIMENT])


@router.get("/experiment/models/{folder}")
async def get_experiment_model_files(request: Request, folder: str) -> Response:
    sim = sim_of(request)
    if folder not in _folders(sim) or folder in _NO_EXPERIMENT:
        return empty(404)
    return json_response([{"name": name, "pathIndex": 0} for name in sorted(sim.models.get(folder, []))])


@router.get("/view_metadata/{folder}")
async def get_view_metadata(folder: str) -> Response:
    return empty(404)


# -- files ---------------------------------------------------------------------------------------------


@router.api_route("/view", methods=["GET", "HEAD"])  # ComfyUI's aiohttp routes answer HEAD as GET, bodiless
async def get_view(request: Request) -> Response:
    try:
        body, content_type, name = read_view(sim_of(request).folders(), dict(request.query_params))
    except FileError as exc:
        return empty(exc.status)
    return Response(body, media_type=content_type, headers={"Content-Disposition": f'filename="{name}"'})


async def _upload(request: Request, mask: bool) -> Response:
    sim = sim_of(request)
    form = await request.form(max_part_size=sim.config.max_upload_size)
    image = form.get("image")
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    if not isinstance(image, UploadFile):
        return empty(400)
    data = await image.read()
    try:
        result = save_upload(sim.folders(), image.filename, data, fields, compose_mask=mask)
    except FileError as exc:
        return empty(exc.status)
    return json_response(result)


@router.post("/upload/image")
async def post_upload_image(request: Request) -> Response:
    return await _upload(request, mask=False)


@router.post("/upload/mask")
async def post_upload_mask(request: Request) -> Response:
    return await _upload(request, mask=True)


# -- websocket -----------------------------------------------------------------------------------------


@ws_router.websocket("/ws")
async def websocket_endpoint(socket: WebSocket) -> None:
    sim = sim_of(socket)
    sid = socket.query_params.get("clientId") or uuid.uuid4().hex
    await socket.accept()
    client = Client(sid=sid, socket=socket)
    sim.hub.add(client)  # like ComfyUI, a reused sid silently takes over; the old socket just stops hearing
    writer = asyncio.get_running_loop().create_task(Hub.drain(client))
    sim.hub.send_json("status", sim.status_payload(sid), sid)
    if sim.runner.current_client_id == sid and sim.runner.last_node_id is not None:
        sim.hub.send_json("executing", {"node": sim.runner.last_node_id}, sid)
    try:
        while True:
            message = await socket.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is None or client.handshake_done:
                continue
            client.handshake_done = True
            with contextlib.suppress(ValueError, AttributeError):
                parsed = json.loads(text)
                if parsed.get("type") == "feature_flags" and isinstance(parsed.get("data"), dict):
                    client.feature_flags = parsed["data"]
                    sim.hub.send_json("feature_flags", server_features(sim), sid)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        sim.hub.remove(client)
        client.outbox.put_nowait(None)
        with contextlib.suppress(Exception):
            await writer
