"""The UI build (`services/ui/dist`) at `/`, with the SPA fallback to `index.html`; a plain page when not built."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, HTMLResponse, Response

from orch_api.context import ApiContext, get_ctx
from orch_api.errors import NotFound

__all__ = ["NOT_BUILT_PAGE", "router"]

router = APIRouter(include_in_schema=False)

_RESERVED = ("api", "backends")

NOT_BUILT_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>ComfyUI Orchestrator</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>The UI is not built</h1>
<p>The API is running, but there is no UI build at <code>{dist}</code>.</p>
<p>Build it with <code>make install</code> (or <code>npm run build</code> in <code>services/ui</code>),
or point <code>ORCH_API_UI_DIST</code> at a build. The REST API is documented at <a href="/docs">/docs</a>.</p>
</body></html>
"""


def _inside(root: Path, candidate: Path) -> bool:
    return os.path.commonpath([root, candidate]) == str(root)


@router.get("/{path:path}")
def ui(path: str, ctx: ApiContext = Depends(get_ctx)) -> Response:
    first = path.split("/", 1)[0]
    if first in _RESERVED:
        raise NotFound(f"no route /{path}")
    dist = Path(os.path.realpath(ctx.settings.ui_dist))
    index = dist / "index.html"
    if not index.is_file():
        return HTMLResponse(NOT_BUILT_PAGE.format(dist=ctx.settings.ui_dist))
    if path:
        candidate = Path(os.path.realpath(dist / path))
        if _inside(dist, candidate) and candidate.is_file():
            immutable = candidate.parent.name == "assets"
            cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
            return FileResponse(candidate, headers={"Cache-Control": cache})
    return FileResponse(index, headers={"Cache-Control": "no-cache"})
