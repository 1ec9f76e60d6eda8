"""Parsing both formats: what is accepted, and errors that point at the bad element."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orch_common.workflow import (
    WorkflowError,
    WorkflowFormat,
    WorkflowParseError,
    detect_format,
    parse_api,
    parse_ui,
)
from tests.helpers import FIXTURES
from tests.workflow.conftest import template_files


def minimal_ui() -> dict:
    return {
        "version": 0.4,
        "nodes": [
            {
                "id": 1,
                "type": "EmptyImage",
                "mode": 0,
                "widgets_values": [8, 8, 1, 0],
                "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1]}],
            },
            {
                "id": 2,
                "type": "SaveImage",
                "widgets_values": ["x"],
                "inputs": [{"name": "images", "type": "IMAGE", "link": 1}],
            },
        ],
        "links": [[1, 1, 0, 2, 0, "IMAGE"]],
    }


def test_format_detection_tells_ui_from_api():
    assert detect_format(minimal_ui()) is WorkflowFormat.UI
    api = json.loads((FIXTURES / "workflows" / "api_basic.json").read_text())
    assert detect_format(api) is WorkflowFormat.API
    with pytest.raises(WorkflowParseError):
        detect_format({"foo": 1})
    with pytest.raises(WorkflowParseError):
        detect_format([1, 2])


@pytest.mark.parametrize("path", sorted((FIXTURES / "workflows").glob("api_*.json")), ids=lambda p: p.name)
def test_every_recorded_api_prompt_parses(path):
    data = json.loads(path.read_text())
    assert detect_format(data) is WorkflowFormat.API
    prompt = parse_api(data)
    assert set(prompt) == set(data)


def test_every_template_parses_with_its_groups_and_subgraphs():
    with_subgraphs = 0
    for path in template_files():
        ui = parse_ui(json.loads(path.read_text()))
        assert ui.graph.nodes
        with_subgraphs += bool(ui.subgraphs)
    assert with_subgraphs == 7


def test_schema_1_links_and_reroutes_parse():
    data = minimal_ui()
    data["version"] = 1
    data["links"] = [
        {
            "id": 1,
            "origin_id": 1,
            "origin_slot": "0",
            "target_id": 2,
            "target_slot": 0,
            "type": ["IMAGE", "MASK"],
            "parentId": 4,
        }
    ]
    data["reroutes"] = [{"id": 4, "pos": [0, 0], "linkIds": [1]}]
    ui = parse_ui(data)
    link = ui.graph.links[1]
    assert (link.origin_id, link.origin_slot, link.type, link.parent_id) == ("1", 0, "IMAGE,MASK", 4)
    assert ui.graph.reroutes[4].link_ids == (1,)


def test_widgets_values_may_be_an_object():
    data = minimal_ui()
    data["nodes"][1]["widgets_values"] = {"filename_prefix": "x"}
    assert parse_ui(data).graph.nodes[1].widgets_values == {"filename_prefix": "x"}


@pytest.mark.parametrize(
    ("mutate", "path", "words"),
    [
        (lambda d: d["nodes"][1].update(widgets_values="x"), "nodes[1].widgets_values", "list or an object"),
        (lambda d: d["nodes"][0].update(id=None), "nodes[0].id", "node id"),
        (lambda d: d["nodes"][1]["inputs"][0].update(link="one"), "nodes[1].inputs[0].link", "integer"),
        (lambda d: d["links"].__setitem__(0, [1, 1, 0]), "links[0]", "link tuple"),
        (lambda d: d["nodes"].append(dict(d["nodes"][0])), "nodes[2].id", "used twice"),
        (lambda d: d.update(nodes={}), "nodes", "list"),
        (lambda d: d["nodes"][0].update(type=3), "nodes[0].type", "string"),
        (lambda d: d.update(extra={"reroutes": [{"id": 1, "parentId": 9}]}), "reroutes[0].parentId", "parent 9"),
    ],
)
def test_ui_errors_name_the_bad_element(mutate, path, words):
    data = minimal_ui()
    mutate(data)
    with pytest.raises(WorkflowParseError) as info:
        parse_ui(data)
    assert info.value.path == path
    assert words in info.value.message


def test_subgraph_errors_carry_the_definition_path():
    data = minimal_ui()
    data["definitions"] = {"subgraphs": [{"id": "s", "nodes": [{"id": 1, "type": "X", "widgets_values": 5}]}]}
    with pytest.raises(WorkflowParseError) as info:
        parse_ui(data)
    assert info.value.path == "definitions.subgraphs[0].nodes[0].widgets_values"


@pytest.mark.parametrize(
    ("prompt", "path"),
    [
        ({"1": {"inputs": {}}}, "prompt['1'].class_type"),
        ({"1": {"class_type": "A", "inputs": {"x": [1, 2, 3]}}}, "prompt['1'].inputs.x"),
        ({"1": 5}, "prompt['1']"),
    ],
)
def test_api_errors_name_the_bad_element(prompt, path):
    with pytest.raises(WorkflowParseError) as info:
        parse_api(prompt)
    assert info.value.path == path


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=25,
)
ui_like = st.fixed_dictionaries(
    {
        "nodes": st.lists(
            st.dictionaries(
                st.sampled_from(["id", "type", "mode", "inputs", "outputs", "widgets_values", "title", "order"]),
                json_values,
            ),
            max_size=3,
        )
    },
    optional={
        "links": json_values,
        "extra": json_values,
        "definitions": json_values,
        "version": json_values,
        "reroutes": json_values,
        "groups": json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, ui_like))
def test_parsing_arbitrary_json_raises_only_workflow_errors(data):
    for parse in (parse_ui, parse_api, detect_format):
        with contextlib.suppress(WorkflowError):
            parse(data)


node_like = st.fixed_dictionaries(
    {
        "id": st.integers(1, 4) | st.sampled_from(["1", "2", "a"]),
        "type": st.sampled_from(
            [
                "EmptyImage",
                "SaveImage",
                "ImageInvert",
                "PrimitiveNode",
                "Reroute",
                "Note",
                "KSampler",
                "sub",
                "LoadImage",
            ]
        ),
    },
    optional={
        "mode": st.sampled_from([0, 2, 4]),
        "inputs": st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.sampled_from(["image", "images", "", "seed", "x"]),
                    "type": st.sampled_from(["IMAGE", "*", "INT"]),
                    "link": st.none() | st.integers(1, 5),
                },
                optional={"widget": st.fixed_dictionaries({"name": st.sampled_from(["seed", "x"])})},
            ),
            max_size=3,
        ),
        "outputs": st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.just("o"),
                    "type": st.sampled_from(["IMAGE", "INT"]),
                    "links": st.lists(st.integers(1, 5), max_size=2),
                }
            ),
            max_size=2,
        ),
        "widgets_values": json_values,
    },
)
link_like = st.tuples(
    st.integers(1, 5),
    st.integers(-20, 4),
    st.integers(0, 2),
    st.integers(-20, 4),
    st.integers(0, 2),
    st.sampled_from(["IMAGE", "*", "INT"]),
).map(list)
graph_like = st.fixed_dictionaries({"nodes": st.lists(node_like, max_size=5), "links": st.lists(link_like, max_size=5)})


@settings(max_examples=300, deadline=None)
@given(graph_like, st.lists(graph_like, max_size=1))
def test_converting_arbitrary_graphs_raises_only_workflow_errors(index_session, data, subs):
    from orch_common.workflow import convert_ui_to_api

    if subs:
        data["definitions"] = {
            "subgraphs": [
                {
                    **subs[0],
                    "id": "sub",
                    "inputs": [{"id": "i", "name": "image", "type": "IMAGE", "linkIds": [1]}],
                    "outputs": [{"id": "o", "name": "o", "type": "IMAGE", "linkIds": [2]}],
                }
            ]
        }
    with contextlib.suppress(WorkflowError):
        convert_ui_to_api(data, index_session)
