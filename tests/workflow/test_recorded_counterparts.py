"""UI counterparts of the recorded API prompts convert back to exactly what the server ran.

The counterpart of each `workflows/api_*.json` is built the way the editor saves it: widget values
positionally in the class's widget order with the hidden companions (control_after_generate "fixed",
the upload button's "image"), every link through a legacy Reroute node, plus a Note.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from orch_common.workflow import ObjectInfoIndex, convert_ui_to_api
from tests.helpers import FIXTURES

RECORDED = sorted((FIXTURES / "workflows").glob("api_*.json"))
HIDDEN_VALUES = {"control_after_generate": "fixed", "upload": "image", "control_filter_list": ""}


def ui_counterpart(api: dict[str, Any], index: ObjectInfoIndex, *, reroutes: bool) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = []
    links: list[list[Any]] = []
    by_id: dict[str, dict[str, Any]] = {}
    for node_id, node in api.items():
        info = index[node["class_type"]]
        values = [
            node["inputs"].get(s.name, s.default) if s.in_api else HIDDEN_VALUES.get(s.name, s.default)
            for s in info.widget_slots
        ]
        ui_node = {
            "id": int(node_id),
            "type": node["class_type"],
            "mode": 0,
            "widgets_values": values,
            "inputs": [],
            "outputs": [{"name": o.name, "type": o.type, "links": []} for o in info.outputs],
            "properties": {"Node name for S&R": node["class_type"]},
        }
        nodes.append(ui_node)
        by_id[node_id] = ui_node
    next_id = 1000
    for node_id, node in api.items():
        info = index[node["class_type"]]
        for name, value in node["inputs"].items():
            if not (isinstance(value, list) and len(value) == 2):
                continue
            spec = info.input(name)
            target = by_id[node_id]
            src_id, slot = value
            if reroutes:
                next_id += 1
                reroute = {
                    "id": next_id,
                    "type": "Reroute",
                    "mode": 0,
                    "inputs": [{"name": "", "type": "*", "link": None}],
                    "outputs": [{"name": "", "type": spec.type, "links": []}],
                    "properties": {},
                }
                nodes.append(reroute)
                first = len(links) + 1
                links.append([first, int(src_id), slot, next_id, 0, spec.type])
                by_id[src_id]["outputs"][slot]["links"].append(first)
                reroute["inputs"][0]["link"] = first
                src_id, slot, source = str(next_id), 0, reroute
            else:
                source = by_id[src_id]
            link_id = len(links) + 1
            links.append([link_id, int(src_id), slot, int(node_id), len(target["inputs"]), spec.type])
            source["outputs"][slot]["links"].append(link_id)
            slot_entry: dict[str, Any] = {"name": name, "type": spec.type, "link": link_id}
            if spec.name in {w.name for w in info.widget_inputs}:
                slot_entry["widget"] = {"name": name}
            target["inputs"].append(slot_entry)
    nodes.append({"id": 999, "type": "Note", "mode": 0, "widgets_values": ["recorded counterpart"]})
    return {"version": 0.4, "nodes": nodes, "links": links, "groups": [], "extra": {}}


def strip_meta(prompt: dict[str, Any]) -> dict[str, Any]:
    return {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in prompt.items()}


@pytest.mark.parametrize("reroutes", [False, True], ids=["direct", "through-reroutes"])
@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.name)
def test_the_counterpart_converts_to_the_recorded_prompt(path, reroutes, index):
    recorded = json.loads(path.read_text())
    ui = ui_counterpart(recorded, index, reroutes=reroutes)
    assert strip_meta(convert_ui_to_api(json.loads(json.dumps(ui)), index)) == strip_meta(recorded)
