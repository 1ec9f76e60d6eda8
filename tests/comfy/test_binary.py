"""Binary websocket frames: decoding and encoding agree with ComfyUI's byte layout and the recordings."""

from __future__ import annotations

import json

import pytest

from orch_common.comfy.binary import (
    BinaryEventType,
    ImageFormat,
    PreviewImage,
    PreviewImageWithMetadata,
    PreviewMetadata,
    TextFrame,
    UnknownFrame,
    decode_frame,
    encode_preview_image,
    encode_preview_with_metadata,
    encode_text,
)
from orch_common.comfy.errors import ComfyProtocolError

from ._fixtures import FIXTURES, ws_trace, ws_trace_names

PNG = (FIXTURES / "upload_source.png").read_bytes()


def recorded_binary_frames() -> list[dict]:
    return [frame for name in ws_trace_names() for frame in ws_trace(name) if frame.get("binary")]


def png_of_length(n: int) -> bytes:
    """A stand-in image body: the PNG magic padded to the recorded length."""
    magic = bytes.fromhex("89504e470d0a1a0a")
    return magic + b"\0" * (n - len(magic))


def test_the_recordings_hold_both_preview_frame_types():
    types = {frame["event_type"] for frame in recorded_binary_frames()}
    assert types == {BinaryEventType.PREVIEW_IMAGE, BinaryEventType.PREVIEW_IMAGE_WITH_METADATA}


@pytest.mark.parametrize("recorded", recorded_binary_frames(), ids=lambda f: f"type{f['event_type']}-{f['len']}")
def test_an_encoded_frame_matches_the_recorded_layout(recorded):
    if recorded["event_type"] == BinaryEventType.PREVIEW_IMAGE:
        image = png_of_length(recorded["len"] - 8)
        frame = encode_preview_image(ImageFormat(recorded["image_format"]), image)
    else:
        metadata = PreviewMetadata.model_validate(recorded["metadata"])
        header = len(json.dumps(recorded["metadata"]))
        image = png_of_length(recorded["len"] - 8 - header)
        frame = encode_preview_with_metadata(metadata, image)
    assert len(frame) == recorded["len"]
    assert frame[:8].hex() == recorded["first_8_bytes_hex"]

    decoded = decode_frame(frame)
    assert not isinstance(decoded, UnknownFrame)
    assert decoded.data[:8].hex() == recorded["image_magic_hex"]
    if isinstance(decoded, PreviewImageWithMetadata):
        assert decoded.metadata.model_dump() == recorded["metadata"]
        assert decoded.format is ImageFormat.PNG
    else:
        assert isinstance(decoded, PreviewImage)
        assert decoded.format == recorded["image_format"]


@pytest.mark.parametrize("fmt", list(ImageFormat))
def test_a_preview_image_round_trips(fmt):
    decoded = decode_frame(encode_preview_image(fmt, PNG))
    assert decoded == PreviewImage(format=fmt, data=PNG)


def test_a_text_frame_round_trips_with_non_ascii_node_ids_and_text():
    frame = encode_text("5:12", "étape 3/10 ✓")
    assert frame[:4] == b"\0\0\0\3"
    assert frame[4:8] == (4).to_bytes(4, "big")
    assert decode_frame(frame) == TextFrame(node_id="5:12", text="étape 3/10 ✓")


def test_a_preview_with_metadata_round_trips_and_keeps_unknown_metadata_fields():
    metadata = PreviewMetadata.model_validate(
        {
            "node_id": "3",
            "prompt_id": "p",
            "display_node_id": "3",
            "parent_node_id": None,
            "real_node_id": "3",
            "image_type": "image/jpeg",
            "added_later": 7,
        }
    )
    decoded = decode_frame(encode_preview_with_metadata(metadata, PNG))
    assert isinstance(decoded, PreviewImageWithMetadata)
    assert decoded.metadata == metadata
    assert decoded.metadata.model_extra == {"added_later": 7}
    assert decoded.format is ImageFormat.JPEG
    assert decoded.data == PNG


def test_an_unknown_event_type_is_returned_not_raised():
    assert decode_frame(b"\0\0\0\x09payload") == UnknownFrame(event_type=9, payload=b"payload")


def test_an_unknown_image_format_is_returned_not_raised():
    decoded = decode_frame(b"\0\0\0\1\0\0\0\7abc")
    assert decoded == UnknownFrame(event_type=1, payload=b"\0\0\0\7abc")


@pytest.mark.parametrize(
    "frame",
    [b"", b"\0\0", b"\0\0\0\1\0\0", b"\0\0\0\3\0\0\0\x09ab", b"\0\0\0\4\0\0\0\x20{}", b"\0\0\0\4\0\0\0\2{x"],
    ids=["empty", "short-type", "short-format", "short-node-id", "short-metadata", "bad-metadata-json"],
)
def test_a_truncated_or_malformed_frame_raises_a_protocol_error(frame):
    with pytest.raises(ComfyProtocolError):
        decode_frame(frame)
