"""`GET /api/artifacts/{artifact_id}`: an output's bytes from the Object Store, with its content type."""

from __future__ import annotations

import mimetypes
from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from orch_api.context import ApiContext, get_ctx
from orch_api.errors import NotFound, Unavailable
from orch_common.contracts import subjects

__all__ = ["router"]

router = APIRouter(prefix="/api/artifacts", tags=["artifacts"])


async def _read(ctx: ApiContext, key: str) -> tuple[bytes, str]:
    try:
        from orch_common.natsutil.objects import ArtifactError, ArtifactNotFoundError, get_artifact
    except ImportError:  # the fast reader is not there: nats-py's own Object Store reader
        from nats.js.errors import NotFoundError, ObjectNotFoundError

        store = await ctx.bus.js.object_store(subjects.ARTIFACTS_BUCKET)
        try:
            result = await store.get(key)
        except (ObjectNotFoundError, NotFoundError):
            raise NotFound(f"no artifact {key!r}") from None
        headers = getattr(result.info, "headers", None) or {}
        found = headers.get("Content-Type") if isinstance(headers, dict) else None
        content_type = (found[0] if isinstance(found, list) and found else found) or ""
        return result.data or b"", str(content_type)
    try:
        return await get_artifact(ctx.bus.js, key)
    except ArtifactNotFoundError:
        raise NotFound(f"no artifact {key!r}") from None
    except ArtifactError as exc:
        raise Unavailable(f"artifact {key!r} cannot be read: {exc}", code="artifact_unreadable") from None


@router.get("/{artifact_id:path}", summary="An artifact's bytes", response_class=Response)
async def get_artifact_bytes(artifact_id: str, ctx: ApiContext = Depends(get_ctx)) -> Response:
    if not artifact_id or ".." in artifact_id.split("/"):
        raise NotFound(f"no artifact {artifact_id!r}")
    data, content_type = await _read(ctx, artifact_id)
    if not content_type or content_type == "application/octet-stream":
        content_type = mimetypes.guess_type(artifact_id)[0] or "application/octet-stream"
    filename = artifact_id.rsplit("/", 1)[-1]
    return Response(
        data,
        media_type=content_type,
        headers={
            "Cache-Control": "private, max-age=31536000, immutable",
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(filename)}",
        },
    )
