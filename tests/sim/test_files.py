"""`/view` and `/upload/*` against the recorded probes: guards (400 / 403 / 404), annotations, previews,
channels, upload renaming and de-duplication, subfolders, masks."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from tests.helpers.sim import SimProcess
from tests.sim.wsutil import Listener, fixture_path, http, recorded, submit

SOURCE = fixture_path("upload_source.png").read_bytes()


async def upload(sim: SimProcess, name: str, data: bytes = SOURCE, path: str = "/upload/image",
                 **fields: str) -> Any:
    files = {"image": (name, data, "image/png")}
    return await http(sim.url, "POST", path, files=files, data=fields)


def png(color: tuple[int, int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


async def run_basic(sim: SimProcess) -> str:
    body = recorded("prompt_json_response_basic.json")["request"]["json"]
    async with Listener(sim.ws_url, body["client_id"]) as ws:
        prompt_id = await submit(sim.url, body)
        await ws.wait_done(prompt_id)
    history = (await http(sim.url, "GET", f"/history/{prompt_id}")).json()[prompt_id]
    filename: str = history["outputs"]["4"]["images"][0]["filename"]
    return filename


async def test_uploads_rename_on_clash_reuse_identical_files_and_honour_subfolders(sim: SimProcess) -> None:
    cases = {name: recorded(f"upload_image_response{name}.json") for name in
             ("", "_duplicate", "_name_clash", "_subfolder", "_no_file")}
    first = await upload(sim, "fx_upload.png", type="input", overwrite="true")
    assert first.json() == cases[""]["response"]
    info = (await http(sim.url, "GET", "/object_info/LoadImage")).json()
    assert info == recorded("object_info_LoadImage_after_upload.json")

    duplicate = await upload(sim, "fx_upload.png", type="input")
    assert duplicate.json() == cases["_duplicate"]["response"]
    clash = await upload(sim, "fx_upload.png", png((1, 2, 3, 255)), type="input")
    assert clash.json() == cases["_name_clash"]["response"]
    again = await upload(sim, "fx_upload.png", png((1, 2, 3, 255)), type="input")
    assert again.json() == cases["_name_clash"]["response"]
    overwritten = await upload(sim, "fx_upload (1).png", png((9, 9, 9, 255)), type="input", overwrite="1")
    assert overwritten.json()["name"] == "fx_upload (1).png"
    sub = await upload(sim, "fx_upload_b.png", type="input", subfolder="fxsub")
    assert sub.json() == cases["_subfolder"]["response"]

    no_file = await http(sim.url, "POST", "/upload/image", data={"type": "input"},
                         files={"other": ("x.txt", b"x", "text/plain")})
    assert (no_file.status_code, no_file.content) == (cases["_no_file"]["status"], b"")
    escape = await upload(sim, "x.png", type="input", subfolder="../../outside")
    assert escape.status_code == 400
    assert not (sim.data_dir.parent / "outside").exists()
    assert (await upload(sim, "x.png", type="bogus")).status_code == 400


async def test_view_answers_every_recorded_probe_alike(sim: SimProcess) -> None:
    await upload(sim, "fx_upload.png", type="input", overwrite="true")
    await upload(sim, "fx_upload_b.png", type="input", subfolder="fxsub", overwrite="true")
    output_name = await run_basic(sim)
    for probe in recorded("view_probes.json"):
        url = probe["request"].replace("fx_basic_00001_.png", output_name)
        response = await http(sim.url, "GET", url)
        assert response.status_code == probe["status"], probe["name"]
        if probe["status"] != 200:
            assert response.content == b"", probe["name"]
            continue
        assert response.headers["content-type"] == probe["content_type"], probe["name"]
        disposition = probe["content_disposition"].replace("fx_basic_00001_.png", output_name)
        assert response.headers["content-disposition"] == disposition, probe["name"]
        decoded = Image.open(io.BytesIO(response.content))
        want = probe["decoded"]
        assert [decoded.format, decoded.mode, list(decoded.size)] == [want["format"], want["mode"], want["size"]]
    alpha = await http(sim.url, "GET", "/view", params={"filename": "fx_upload.png", "type": "input", "channel": "a"})
    assert alpha.content == fixture_path("view_channel_a.png").read_bytes() or (
        Image.open(io.BytesIO(alpha.content)).getchannel("A").tobytes()
        == Image.open(fixture_path("view_channel_a.png")).getchannel("A").tobytes())


@pytest.mark.parametrize("query", [
    {"filename": "passwd", "subfolder": "../../../../etc"},
    {"filename": "x.png", "subfolder": "/etc"},
    {"filename": "x.png", "subfolder": "../sim-data-evil"},
])
async def test_view_refuses_subfolders_outside_their_directory(sim: SimProcess, query: dict[str, str]) -> None:
    assert (await http(sim.url, "GET", "/view", params=query)).status_code == 403


async def test_view_does_not_follow_a_symlink_out_of_its_directory(sim: SimProcess, tmp_path: Any) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(SOURCE)
    link = sim.data_dir / "output" / "escape"
    if not link.exists():
        link.symlink_to(tmp_path, target_is_directory=True)
    response = await http(sim.url, "GET", "/view", params={"filename": "secret.png", "subfolder": "escape"})
    assert response.status_code == 403


async def test_a_mask_upload_puts_its_alpha_into_the_original(sim: SimProcess) -> None:
    await upload(sim, "fx_upload.png", type="input", overwrite="true")
    ref = '{"filename": "fx_upload.png", "subfolder": "", "type": "input"}'
    response = await upload(sim, "clipspace-mask.png", png((0, 0, 0, 0)), path="/upload/mask", type="input",
                            subfolder="clipspace", original_ref=ref, overwrite="true")
    assert response.status_code == 200
    assert response.json() == {"name": "clipspace-mask.png", "subfolder": "clipspace", "type": "input"}
    view = await http(sim.url, "GET", "/view", params={"filename": "clipspace-mask.png", "type": "input",
                                                         "subfolder": "clipspace"})
    image = Image.open(io.BytesIO(view.content))
    assert image.mode == "RGBA" and image.size == (64, 48)
    assert image.getchannel("A").getextrema() == (0, 0)
    original = Image.open(fixture_path("upload_source.png")).convert("RGB")
    assert image.convert("RGB").tobytes() == original.tobytes()
