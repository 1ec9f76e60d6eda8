"""validate_api_prompt finds what the recorded ComfyUI 0.3.64 rejected, and nothing in what it accepted."""

from __future__ import annotations

import json

import pytest

from orch_common.workflow import ProblemKind, validate_api_prompt
from tests.helpers import FIXTURES

RECORDED = {
    "prompt_error_missing_required_input.json": (ProblemKind.REQUIRED_INPUT_MISSING, "1", "width"),
    "prompt_error_missing_required_link_input.json": (ProblemKind.REQUIRED_INPUT_MISSING, "2", "image"),
    "prompt_error_invalid_value_type.json": (ProblemKind.INVALID_INPUT_TYPE, "1", "width"),
    "prompt_error_value_above_max.json": (ProblemKind.VALUE_BIGGER_THAN_MAX, "1", "height"),
    "prompt_error_value_below_min.json": (ProblemKind.VALUE_SMALLER_THAN_MIN, "1", "width"),
    "prompt_error_invalid_combo_value.json": (ProblemKind.VALUE_NOT_IN_LIST, "2", "upscale_method"),
    "prompt_error_bad_link_type_mismatch.json": (ProblemKind.TYPE_MISMATCH, "2", "image"),
    "prompt_error_bad_link_malformed.json": (ProblemKind.BAD_LINK, "2", "image"),
    "prompt_error_bad_link_output_index.json": (ProblemKind.BAD_LINK, None, None),
    "prompt_error_bad_link_missing_node.json": (ProblemKind.BAD_LINK, None, None),
    "prompt_error_unknown_class_type.json": (ProblemKind.UNKNOWN_CLASS, None, None),
    "prompt_error_missing_class_type.json": (ProblemKind.INVALID_PROMPT, None, None),
    "prompt_error_no_outputs.json": (ProblemKind.NO_OUTPUTS, None, None),
}


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_recorded_rejections_are_found(name, index):
    request = json.loads((FIXTURES / name).read_text())["request"]
    problems = validate_api_prompt(request["json"]["prompt"], index)
    kind, node_id, input_name = RECORDED[name]
    matching = [p for p in problems if p.kind is kind]
    assert matching, problems
    if node_id is not None:
        assert any(p.node_id == node_id and p.input == input_name for p in matching)


@pytest.mark.parametrize("path", sorted((FIXTURES / "workflows").glob("api_*.json")), ids=lambda p: p.name)
def test_prompts_the_server_ran_have_no_problems_except_missing_upload_files(path, index):
    problems = validate_api_prompt(json.loads(path.read_text()), index)
    assert problems == []
