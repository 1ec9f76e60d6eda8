"""Binary websocket frames of ComfyUI: decode what a server sends, encode what a server would send.

Every binary frame is a big-endian ``uint32`` event type followed by its payload:

==  ============================  ================================================================
1   PREVIEW_IMAGE                 ``uint32`` image format (1 JPEG, 2 PNG) + encoded image bytes
2   UNENCODED_PREVIEW_IMAGE       server-internal; converted to type 1 before it reaches the wire
3   TEXT                          ``uint32`` len(node_id) + node_id UTF-8 + text UTF-8
4   PREVIEW_IMAGE_WITH_METADATA   ``uint32`` len(metadata JSON) + metadata JSON UTF-8 + image bytes
==  ============================  ================================================================

Type 4 is only sent to clients that announced ``supports_preview_metadata`` in their feature-flags
handshake; everyone else gets type 1, which carries no node or prompt id. The metadata JSON is
written the way ComfyUI writes it (``json.dumps`` with default separators, keys in declaration order),
so encoded frames are byte-identical to recorded ones.

A frame whose event type (or image format) we do not know decodes to :class:`UnknownFrame`; a
frame that is too short for its own length fields raises :class:`ComfyProtocolError`.
"""

from __future__ import annotations

import json
import struct
from enum import IntEnum

from pydantic import BaseModel, ConfigDict

from orch_common.comfy.errors import ComfyProtocolError

__all__ = [
    "BinaryEventType",
    "Frame",
    "ImageFormat",
    "PreviewImage",
    "PreviewImageWithMetadata",
    "PreviewMetadata",
    "TextFrame",
    "UnknownFrame",
    "decode_frame",
    "encode_preview_image",
    "encode_preview_with_metadata",
    "encode_text",
]

_U32 = struct.Struct(">I")


class BinaryEventType(IntEnum):
    """The leading ``uint32`` of a binary frame (ComfyUI ``protocol.BinaryEventTypes``)."""

    PREVIEW_IMAGE = 1
    UNENCODED_PREVIEW_IMAGE = 2
    TEXT = 3
    PREVIEW_IMAGE_WITH_METADATA = 4


class ImageFormat(IntEnum):
    """Image format of a type-1 preview frame."""

    JPEG = 1
    PNG = 2

    @property
    def mime_type(self) -> str:
        return _MIME_BY_FORMAT[self]

    @classmethod
    def from_mime_type(cls, mime_type: str) -> ImageFormat | None:
        """The format for ``image/jpeg`` / ``image/png``; None for anything else."""
        for fmt, mime in _MIME_BY_FORMAT.items():
            if mime == mime_type:
                return fmt
        return None


_MIME_BY_FORMAT = {ImageFormat.JPEG: "image/jpeg", ImageFormat.PNG: "image/png"}


class PreviewImage(BaseModel):
    """Type 1: an encoded preview image, not attributed to any node."""

    model_config = ConfigDict(frozen=True)

    format: ImageFormat
    data: bytes


class TextFrame(BaseModel):
    """Type 3: progress text for a node."""

    model_config = ConfigDict(frozen=True)

    node_id: str
    text: str


class PreviewMetadata(BaseModel):
    """The JSON header of a type-4 frame; unknown fields from newer servers are kept."""

    model_config = ConfigDict(frozen=True, extra="allow")

    node_id: str
    prompt_id: str
    display_node_id: str | None = None
    parent_node_id: str | None = None
    real_node_id: str | None = None
    image_type: str = "image/png"


class PreviewImageWithMetadata(BaseModel):
    """Type 4: an encoded preview image with the node and prompt it belongs to."""

    model_config = ConfigDict(frozen=True)

    metadata: PreviewMetadata
    data: bytes

    @property
    def format(self) -> ImageFormat | None:
        """The image format named by ``metadata.image_type``; None if it is neither JPEG nor PNG."""
        return ImageFormat.from_mime_type(self.metadata.image_type)


class UnknownFrame(BaseModel):
    """A binary frame whose event type (or image format) this module does not know."""

    model_config = ConfigDict(frozen=True)

    event_type: int
    payload: bytes


Frame = PreviewImage | TextFrame | PreviewImageWithMetadata


def _read_u32(buf: bytes, offset: int, what: str) -> int:
    if len(buf) < offset + 4:
        raise ComfyProtocolError(f"binary frame of {len(buf)} bytes is too short for its {what}")
    value: int = _U32.unpack_from(buf, offset)[0]
    return value


def _read_prefixed(buf: bytes, offset: int, what: str) -> tuple[bytes, int]:
    """Read a ``uint32`` length and that many bytes; return them and the offset after them."""
    length = _read_u32(buf, offset, f"{what} length")
    start = offset + 4
    if len(buf) < start + length:
        raise ComfyProtocolError(f"binary frame of {len(buf)} bytes announces a {length}-byte {what} at offset {start}")
    return buf[start : start + length], start + length


def decode_frame(frame: bytes) -> Frame | UnknownFrame:
    """Decode one binary websocket message.

    Raises :class:`ComfyProtocolError` if the frame is truncated or its text/JSON is malformed.
    """
    buf = bytes(frame)
    event_type = _read_u32(buf, 0, "event type")
    if event_type == BinaryEventType.PREVIEW_IMAGE:
        fmt = _read_u32(buf, 4, "image format")
        if fmt not in ImageFormat.__members__.values():
            return UnknownFrame(event_type=event_type, payload=buf[4:])
        return PreviewImage(format=ImageFormat(fmt), data=buf[8:])
    if event_type == BinaryEventType.TEXT:
        node_id, end = _read_prefixed(buf, 4, "node id")
        try:
            return TextFrame(node_id=node_id.decode(), text=buf[end:].decode())
        except UnicodeDecodeError as exc:
            raise ComfyProtocolError(f"text frame is not valid UTF-8: {exc}") from exc
    if event_type == BinaryEventType.PREVIEW_IMAGE_WITH_METADATA:
        raw_metadata, end = _read_prefixed(buf, 4, "metadata")
        try:
            metadata = PreviewMetadata.model_validate(json.loads(raw_metadata))
        except ValueError as exc:
            raise ComfyProtocolError(f"preview frame metadata is not valid: {exc}") from exc
        return PreviewImageWithMetadata(metadata=metadata, data=buf[end:])
    return UnknownFrame(event_type=event_type, payload=buf[4:])


def encode_preview_image(fmt: ImageFormat, data: bytes) -> bytes:
    """A type-1 frame: ``[1][format][image]``."""
    return _U32.pack(BinaryEventType.PREVIEW_IMAGE) + _U32.pack(ImageFormat(fmt)) + data


def encode_text(node_id: str, text: str) -> bytes:
    """A type-3 frame: ``[3][len(node_id)][node_id][text]``."""
    raw_id = node_id.encode()
    return _U32.pack(BinaryEventType.TEXT) + _U32.pack(len(raw_id)) + raw_id + text.encode()


def encode_preview_with_metadata(metadata: PreviewMetadata, data: bytes) -> bytes:
    """A type-4 frame: ``[4][len(json)][json][image]``, the JSON written as ComfyUI writes it."""
    raw_metadata = json.dumps(metadata.model_dump(mode="json")).encode()
    return _U32.pack(BinaryEventType.PREVIEW_IMAGE_WITH_METADATA) + _U32.pack(len(raw_metadata)) + raw_metadata + data
