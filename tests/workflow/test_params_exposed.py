"""Parameter inspection, suggestions, exposure and patching."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orch_common.workflow import (
    ExposedWorkflow,
    PatchError,
    convert_ui_to_api,
    expose,
    inspect_parameters,
    patch,
    suggest_exposed,
    validate_api_prompt,
)
from tests.helpers import FIXTURES


def load(name: str) -> dict:
    return json.loads((FIXTURES / "workflows" / name).read_text())


@pytest.fixture(scope="module")
def img2img(index):
    ui = load("ui_image2image.json")
    return ui, convert_ui_to_api(ui, index)


def test_every_widget_input_is_listed_with_its_constraints(img2img, index):
    _, api = img2img
    params = {str(p.address): p for p in inspect_parameters(api, index)}
    steps = params["3.steps"]
    assert (steps.class_type, steps.type, steps.value, steps.default, steps.min, steps.max) == (
        "KSampler",
        "INT",
        20,
        20,
        1,
        10000,
    )
    assert params["3.cfg"].step == 0.1 and params["3.cfg"].round == 0.01
    assert "euler" in params["3.sampler_name"].choices
    assert params["6.text"].multiline and params["6.text"].dynamic_prompts
    assert params["3.seed"].node_title == "KSampler"
    assert "3.model" not in params  # a link input is not a parameter


def test_prompt_texts_are_labelled_positive_and_negative(img2img, index):
    _, api = img2img
    suggestions = {s.id: s for s in suggest_exposed(inspect_parameters(api, index))}
    assert suggestions["positive_prompt"].parameter.address.node_id == "6"
    assert suggestions["negative_prompt"].parameter.address.node_id == "7"
    assert {"seed", "steps", "cfg", "sampler", "scheduler", "denoise", "input_image"} <= set(suggestions)


def test_prompt_roles_follow_conditioning_through_intermediate_nodes(index):
    api = convert_ui_to_api(load("ui_qwen_controlnet_subgraph.json"), index)
    roles = {str(p.address): p.prompt_role for p in inspect_parameters(api, index) if p.prompt_role}
    assert roles == {"6.text": "positive", "7.text": "negative"}


def test_duplicate_suggestions_get_ids_qualified_by_node(index):
    api = convert_ui_to_api(load("ui_sdxl_refiner_primitive_nodes.json"), index)
    ids = [s.id for s in suggest_exposed(inspect_parameters(api, index))]
    assert len(ids) == len(set(ids))
    assert "seed_10" in ids and "seed_11" in ids


def test_the_exposed_workflow_round_trips_through_json(img2img, index):
    ui, api = img2img
    exposed = expose(api, index, ui)
    again = ExposedWorkflow.model_validate_json(exposed.model_dump_json())
    assert again == exposed
    assert again.parameter("steps").address.input == "steps"


def test_patch_returns_a_new_prompt_and_leaves_the_old_one_alone(img2img, index):
    ui, api = img2img
    exposed = expose(api, index, ui)
    before = json.dumps(api, sort_keys=True)
    new = patch(api, {"steps": 5, "positive_prompt": "a cat", "sampler": "euler"}, exposed, index)
    assert json.dumps(api, sort_keys=True) == before
    assert new["3"]["inputs"]["steps"] == 5 and new["6"]["inputs"]["text"] == "a cat"


def test_the_big_seed_stays_exact_through_patch_and_json(img2img, index):
    ui, api = img2img
    exposed = expose(api, index, ui)
    seed = 0xFFFFFFFFFFFFFFFF
    text = json.dumps(patch(api, {"seed": seed}, exposed, index))
    assert json.loads(text)["3"]["inputs"]["seed"] == seed


@pytest.mark.parametrize(
    ("values", "parameter", "words"),
    [
        ({"steps": 0}, "steps", "minimum"),
        ({"steps": 20000}, "steps", "maximum"),
        ({"steps": "ten"}, "steps", "integer"),
        ({"cfg": True}, "cfg", "number"),
        ({"sampler": "nope"}, "sampler", "not one of"),
        ({"positive_prompt": 3}, "positive_prompt", "string"),
        ({"seed": -1}, "seed", "minimum"),
        ({"no_such": 1}, "no_such", "no such parameter"),
    ],
)
def test_patch_errors_name_the_parameter(img2img, index, values, parameter, words):
    ui, api = img2img
    exposed = expose(api, index, ui)
    with pytest.raises(PatchError) as info:
        patch(api, values, exposed, index)
    assert info.value.parameter_id == parameter
    assert parameter in str(info.value) and words in str(info.value)


def test_patch_checks_constraints_even_without_an_index(img2img, index):
    ui, api = img2img
    exposed = expose(api, index, ui)
    with pytest.raises(PatchError, match="'denoise'"):
        patch(api, {"denoise": 1.5}, exposed)


UI_FIXTURES = sorted(p.name for p in (FIXTURES / "workflows").glob("ui_*.json"))


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_convert_then_patch_then_validate_round_trips(index, data):
    """Any in-range values for the suggested parameters give a prompt with no new validation problems."""
    ui = load(data.draw(st.sampled_from(UI_FIXTURES)))
    api = convert_ui_to_api(ui, index)
    exposed = expose(api, index, ui)
    baseline = {(p.node_id, p.input, p.kind) for p in validate_api_prompt(api, index)}
    values = {}
    for p in exposed.parameters:
        c = p.constraints
        if p.type == "INT":
            values[p.id] = data.draw(
                st.integers(int(c.min if c.min is not None else -(2**63)), int(c.max if c.max is not None else 2**63))
            )
        elif p.type == "FLOAT":
            values[p.id] = data.draw(
                st.floats(c.min if c.min is not None else -1e6, c.max if c.max is not None else 1e6)
            )
        elif p.type == "STRING":
            values[p.id] = data.draw(st.text(max_size=20))
        elif p.type == "COMBO" and c.choices:
            values[p.id] = data.draw(st.sampled_from(c.choices))
    new = patch(api, values, exposed, index)
    after = {(p.node_id, p.input, p.kind) for p in validate_api_prompt(new, index)}
    assert after <= baseline
    for p in exposed.parameters:
        if p.id in values:
            assert new[p.address.node_id]["inputs"][p.address.input] == values[p.id]
