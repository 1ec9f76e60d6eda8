"""`orch convert` as a user runs it: a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.helpers import FIXTURES, REPO

OBJECT_INFO = FIXTURES / "object_info.json"
DEFAULT = FIXTURES / "workflows" / "ui_default.json"


def orch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orch_cli", *args], capture_output=True, text=True, cwd=REPO, timeout=120
    )


def test_convert_prints_the_api_prompt_to_stdout():
    result = orch("convert", str(DEFAULT), "--object-info", str(OBJECT_INFO))
    assert result.returncode == 0, result.stderr
    prompt = json.loads(result.stdout)
    assert {n["class_type"] for n in prompt.values()} >= {"KSampler", "SaveImage", "CLIPTextEncode"}


def test_convert_writes_the_output_file_and_keeps_big_seeds_exact(tmp_path):
    ui = json.loads(DEFAULT.read_text())
    sampler = next(n for n in ui["nodes"] if n["type"] == "KSampler")
    sampler["widgets_values"][0] = 2**64 - 1
    src, out = tmp_path / "ui.json", tmp_path / "api.json"
    src.write_text(json.dumps(ui))
    result = orch("convert", str(src), "--object-info", str(OBJECT_INFO), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    prompt = json.loads(out.read_text())
    assert prompt[str(sampler["id"])]["inputs"]["seed"] == 2**64 - 1


def test_a_missing_class_fails_with_a_clear_message(tmp_path):
    ui = json.loads(DEFAULT.read_text())
    ui["nodes"][0]["type"] = "NoSuchPackNode"
    src = tmp_path / "ui.json"
    src.write_text(json.dumps(ui))
    result = orch("convert", str(src), "--object-info", str(OBJECT_INFO))
    assert result.returncode != 0
    assert "NoSuchPackNode" in result.stderr and f"node {ui['nodes'][0]['id']}" in result.stderr
    assert result.stdout == ""


def test_bad_json_and_missing_files_fail_cleanly(tmp_path):
    src = tmp_path / "ui.json"
    src.write_text("{not json")
    result = orch("convert", str(src), "--object-info", str(OBJECT_INFO))
    assert result.returncode != 0 and "not valid JSON" in result.stderr
    result = orch("convert", str(tmp_path / "absent.json"), "--object-info", str(OBJECT_INFO))
    assert result.returncode != 0 and "cannot read" in result.stderr
    assert "Traceback" not in result.stderr
