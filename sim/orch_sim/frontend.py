"""What the real ComfyUI web editor needs from a server besides the core API: its static files (from the
installed `comfyui_frontend_package`), user settings and files (`/userdata`, so workflows can be saved),
`/i18n`, `/workflow_templates`, `/templates/*`, and the `/internal/*` log routes."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, Response

from orch_sim.comfy_routes import sim_of
from orch_sim.files import contained
from orch_sim.http_util import empty, json_response

__all__ = ["extension_paths", "frontend_dir", "internal_router", "router", "templates_dir"]

router = APIRouter()
internal_router = APIRouter()

_SETTINGS_FILE = "comfy.settings.json"

# Frontend 1.27.10 registers Comfy.Canvas.NavigationMode before the two settings its onChange writes, and
# throws "Cannot read properties of undefined (reading 'id')" on every load unless those two already hold
# the values it writes. Serving the legacy-mode values (the frontend's own defaults) keeps the load clean.
_SEEDED_SETTINGS = {"Comfy.Canvas.LeftMouseClickBehavior": "panning", "Comfy.Canvas.MouseWheelScroll": "zoom"}


def frontend_dir() -> Path | None:
    try:
        import comfyui_frontend_package
    except ImportError:
        return None
    static = Path(comfyui_frontend_package.__file__).parent / "static"
    return static if static.is_dir() else None


def templates_dir() -> Path | None:
    try:
        import comfyui_workflow_templates
    except ImportError:
        return None
    path = Path(comfyui_workflow_templates.__file__).parent / "templates"
    return path if path.is_dir() else None


def extension_paths() -> list[str]:
    static = frontend_dir()
    if static is None:
        return []
    root = static / "extensions"
    return sorted("/extensions/" + path.relative_to(root).as_posix() for path in root.rglob("*.js"))


@router.get("/extensions")
async def get_extensions() -> Response:
    return json_response(extension_paths())


@router.get("/users")
async def get_users() -> Response:
    return json_response({"storage": "server", "migrated": True})


@router.get("/i18n")
async def get_i18n() -> Response:
    return json_response({})


@router.get("/workflow_templates")
async def get_workflow_templates() -> Response:
    return json_response({})


# -- settings --------------------------------------------------------------------------------------------


def _settings_path(request: Request) -> Path:
    return Path(sim_of(request).user_dir) / _SETTINGS_FILE


def _load_settings(request: Request) -> dict[str, Any]:
    path = _settings_path(request)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_settings(request: Request, settings: dict[str, Any]) -> None:
    _settings_path(request).write_text(json.dumps(settings, indent=4), encoding="utf-8")


@router.get("/settings")
async def get_settings(request: Request) -> Response:
    return json_response({**_SEEDED_SETTINGS, **_load_settings(request)})


@router.post("/settings")
async def post_settings(request: Request) -> Response:
    body = json.loads(await request.body() or b"{}")
    if not isinstance(body, dict):
        return empty(400)
    _save_settings(request, {**_load_settings(request), **body})
    return empty()


@router.get("/settings/{setting_id}")
async def get_setting(request: Request, setting_id: str) -> Response:
    return json_response(_load_settings(request).get(setting_id))


@router.post("/settings/{setting_id}")
async def post_setting(request: Request, setting_id: str) -> Response:
    value = json.loads(await request.body() or b"null")
    _save_settings(request, {**_load_settings(request), setting_id: value})
    return empty()


# -- user files --------------------------------------------------------------------------------------------


def _file_info(root: Path, path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"path": path.relative_to(root).as_posix(), "size": stat.st_size, "modified": stat.st_mtime}


@router.get("/userdata")
async def list_userdata(request: Request, dir: str = "", recurse: str = "", full_info: str = "",
                        split: str = "") -> Response:
    root = Path(sim_of(request).user_dir)
    folder = contained(root, dir) if dir else None
    if folder is None or not folder.is_dir():
        return Response("404: Not Found", status_code=404, media_type="text/plain; charset=utf-8")
    pattern = "**/*" if recurse.lower() == "true" else "*"
    files = sorted(path for path in folder.glob(pattern) if path.is_file())
    if full_info.lower() == "true":
        return json_response([_file_info(folder, path) for path in files])
    if split.lower() == "true":
        return json_response([[path.relative_to(folder).as_posix(), *path.relative_to(folder).parts]
                              for path in files])
    return json_response([path.relative_to(folder).as_posix() for path in files])


def _raw_userdata_path(request: Request) -> str:
    """The still-encoded part after `/userdata/` (the editor sends `workflows%2Fname.json`)."""
    raw = request.scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0]
    return raw.split("/userdata/", 1)[1] if "/userdata/" in raw else ""


def _user_file(request: Request, encoded: str) -> Path | None:
    name = unquote(encoded)
    if not name or name.startswith("/") or ".." in Path(name).parts:
        return None
    return contained(Path(sim_of(request).user_dir), name)


@router.get("/userdata/{file:path}")
async def get_userdata(request: Request, file: str) -> Response:
    path = _user_file(request, _raw_userdata_path(request))
    if path is None or not path.is_file():
        return empty(404)
    return FileResponse(path)


@router.post("/userdata/{file:path}")
async def post_userdata(request: Request, file: str, overwrite: str = "true", full_info: str = "false") -> Response:
    encoded = _raw_userdata_path(request)
    root = Path(sim_of(request).user_dir)
    if "/move/" in encoded:
        source_name, dest_name = encoded.split("/move/", 1)
        source, dest = _user_file(request, source_name), _user_file(request, dest_name)
        if source is None or dest is None:
            return empty(400)
        if not source.is_file():
            return empty(404)
        if dest.exists() and overwrite.lower() == "false":
            return empty(409)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, dest)
        return _describe(root, dest, full_info)
    path = _user_file(request, encoded)
    if path is None:
        return empty(400)
    if path.exists() and overwrite.lower() == "false":
        return empty(409)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(await request.body())
    return _describe(root, path, full_info)


def _describe(root: Path, path: Path, full_info: str) -> Response:
    if full_info.lower() == "true":
        return json_response(_file_info(root, path))
    return json_response(path.relative_to(root).as_posix())


@router.delete("/userdata/{file:path}")
async def delete_userdata(request: Request, file: str) -> Response:
    path = _user_file(request, _raw_userdata_path(request))
    if path is None or not path.is_file():
        return empty(404)
    path.unlink()
    return empty(204)


# -- /internal (not /api-prefixed in ComfyUI) -------------------------------------------------------------


@internal_router.patch("/internal/logs/subscribe")
async def subscribe_logs(request: Request) -> Response:
    sim = sim_of(request)
    body = json.loads(await request.body() or b"{}")
    client = sim.hub.get(str(body.get("clientId"))) if isinstance(body, dict) else None
    if client is not None:
        client.logs_subscribed = bool(body.get("enabled", False))
    return empty()


@internal_router.get("/internal/logs")
async def get_logs(request: Request) -> Response:
    return json_response("".join(entry["m"] for entry in sim_of(request).logs))


@internal_router.get("/internal/logs/raw")
async def get_logs_raw(request: Request) -> Response:
    return json_response({"entries": list(sim_of(request).logs), "size": {"cols": 80, "rows": 24}})


@internal_router.get("/internal/folder_paths")
async def get_folder_paths(request: Request) -> Response:
    sim = sim_of(request)
    return json_response({name: [str(sim.root / "models" / name)] for name in sim.models})


@internal_router.get("/internal/files/{directory_type}")
async def get_internal_files(request: Request, directory_type: str) -> Response:
    dirs = sim_of(request).folders()
    if directory_type not in dirs:
        return Response("Invalid directory type", status_code=400)
    folder = dirs[directory_type]
    files = sorted((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.stat().st_mtime, reverse=True)
    return json_response([p.relative_to(folder).as_posix() for p in files])


def no_cache_headers() -> dict[str, str]:
    return {"Cache-Control": "no-cache", "Pragma": "no-cache", "Expires": "0",
            "Last-Modified": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())}
