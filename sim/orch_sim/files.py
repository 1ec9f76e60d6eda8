"""`/view` and `/upload/{image,mask}`: ComfyUI's file semantics behind a realpath + commonpath guard.

`/view`: empty filename, `..` or an absolute name → 400; unknown type → 400; a subfolder that leaves
its directory → 403; anything missing → 404. `preview=webp;50` / `jpeg;80` re-encodes, `channel=rgb`
drops alpha, `channel=a` returns the alpha channel as an RGBA PNG.
Uploads: an existing name is reused when its bytes are identical, otherwise renamed `name (1).ext`,
`(2)`…, unless `overwrite`; a subfolder that escapes the directory → 400.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import mimetypes
import os
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

__all__ = ["FileError", "contained", "read_view", "save_upload", "split_annotation"]

_ANNOTATIONS = {"[output]": "output", "[input]": "input", "[temp]": "temp"}
_FORCED_DOWNLOAD = {"text/html", "text/html-sandboxed", "application/xhtml+xml", "text/javascript", "text/css"}


class FileError(Exception):
    """A request the file routes refuse; `status` is the HTTP status to answer with (empty body)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@functools.lru_cache(maxsize=256)
def _real_root(base: str) -> str:
    # The bases are the sim's own directories, made at start-up: their real paths are worked out once.
    return os.path.realpath(base)


def _plain_real(root: str, parts: tuple[str, ...]) -> str | None:
    """`root/parts…` when each part is one plain name and none of those steps is a symlink (so, `root` being
    real, that path is its own real path); None when `realpath` has to work it out."""
    target = root
    for part in parts:
        if part.startswith("/"):
            return None
        for name in part.split("/"):
            if name in ("", "."):
                continue
            if name == "..":
                return None
            target = os.path.join(target, name)
            if os.path.islink(target):
                return None
    return target


def contained(base: Path, *parts: str) -> Path | None:
    """`base/parts…` if its real path stays inside `base`'s real path, else None."""
    root = _real_root(os.fspath(base))
    target = _plain_real(root, parts) or os.path.realpath(os.path.join(root, *parts))
    if os.path.commonpath([root, target]) != root:
        return None
    return Path(target)


def split_annotation(name: str) -> tuple[str, str | None]:
    """`"a.png [output]"` → ("a.png", "output")."""
    for suffix, kind in _ANNOTATIONS.items():
        if name.endswith(" " + suffix):
            return name[: -len(suffix) - 1], kind
    return name, None


def read_view(dirs: dict[str, Path], query: dict[str, str]) -> tuple[bytes, str, str]:
    """Answer a `/view` query: (body, content type, filename for Content-Disposition)."""
    if "filename" not in query:
        raise FileError(404, "no filename")
    filename, annotated = split_annotation(query["filename"])
    if not filename:
        raise FileError(400, "empty filename")
    if filename.startswith("/") or ".." in filename:
        raise FileError(400, "filename must stay inside its directory")
    kind = annotated or query.get("type", "output")
    if kind not in dirs:
        raise FileError(400, f"unknown type {kind!r}")
    folder = contained(dirs[kind], query.get("subfolder", ""))
    if folder is None:
        raise FileError(403, "subfolder leaves its directory")
    name = os.path.basename(filename)
    path = contained(folder, name)
    if path is None or not path.is_file():
        raise FileError(404, "no such file")

    channel = query.get("channel", "rgba")
    if "preview" in query:
        spec = query["preview"].split(";")
        fmt = spec[0] if spec[0] in ("webp", "jpeg") and "a" not in query.get("channel", "") else "webp"
        quality = int(spec[-1]) if spec[-1].isdigit() else 90
        with Image.open(path) as image:
            converted = image.convert("RGB") if fmt == "jpeg" or channel == "rgb" else image.copy()
        buffer = io.BytesIO()
        converted.save(buffer, format=fmt, quality=quality)
        return buffer.getvalue(), f"image/{fmt}", name
    if channel == "rgb":
        with Image.open(path) as image:
            rgb = Image.merge("RGB", image.split()[:3]) if image.mode == "RGBA" else image.convert("RGB")
        return _png(rgb), "image/png", name
    if channel == "a":
        with Image.open(path) as image:
            alpha = image.getchannel("A") if image.mode == "RGBA" else Image.new("L", image.size, 255)
        out = Image.new("RGBA", alpha.size)
        out.putalpha(alpha)
        return _png(out), "image/png", name
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if content_type in _FORCED_DOWNLOAD:
        content_type = "application/octet-stream"
    return path.read_bytes(), content_type, name


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_upload(dirs: dict[str, Path], filename: str | None, data: bytes, fields: dict[str, str],
                compose_mask: bool = False) -> dict[str, Any]:
    """Store an uploaded image (or, for masks, the original with the upload's alpha) and describe it."""
    if not filename:
        raise FileError(400, "no image file")
    kind = fields.get("type") or "input"
    if kind not in dirs:
        raise FileError(400, f"unknown type {kind!r}")
    subfolder = fields.get("subfolder", "")
    folder = contained(dirs[kind], subfolder)
    if folder is None:
        raise FileError(400, "subfolder leaves its directory")
    name = os.path.basename(filename)
    if not name or contained(folder, name) is None:
        raise FileError(400, "bad filename")
    overwrite = fields.get("overwrite", "").lower() in ("true", "1")
    payload = _mask_composite(dirs, data, fields) if compose_mask else data

    target = folder / name
    if not overwrite and target.exists():
        stem, ext = os.path.splitext(name)
        counter = 1
        while target.exists() and _digest(target.read_bytes()) != _digest(payload):
            name = f"{stem} ({counter}){ext}"
            target = folder / name
            counter += 1
    folder.mkdir(parents=True, exist_ok=True)
    if not target.exists() or overwrite or _digest(target.read_bytes()) != _digest(payload):
        target.write_bytes(payload)
    return {"name": name, "subfolder": subfolder, "type": kind}


def _mask_composite(dirs: dict[str, Path], data: bytes, fields: dict[str, str]) -> bytes:
    try:
        ref = json.loads(fields.get("original_ref", ""))
        original = contained(dirs[ref.get("type", "input") or "input"], ref.get("subfolder", "") or "",
                             ref["filename"])
    except (ValueError, KeyError, TypeError) as exc:
        raise FileError(400, f"bad original_ref: {exc}") from exc
    if original is None or not original.is_file():
        raise FileError(404, "original image not found")
    with Image.open(original) as base:
        info = PngImagePlugin.PngInfo()
        for key, value in getattr(base, "text", {}).items():
            info.add_text(key, value)
        composed = base.convert("RGBA")
    with Image.open(io.BytesIO(data)) as mask:
        composed.putalpha(mask.convert("RGBA").getchannel("A"))
    buffer = io.BytesIO()
    composed.save(buffer, format="PNG", compress_level=4, pnginfo=info)
    return buffer.getvalue()
