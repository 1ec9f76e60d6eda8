"""Shared fixtures for the workflow tests: the recorded object_info and a tiny UI-graph builder."""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path
from typing import Any

import pytest

from orch_common.workflow.object_info import ObjectInfoIndex
from tests.helpers import FIXTURES

OBJECT_INFO_BYTES = (FIXTURES / "object_info.json").read_bytes()


def templates_dir() -> Path:
    return Path(str(importlib.resources.files("comfyui_workflow_templates") / "templates"))


def template_files() -> list[Path]:
    result = []
    for path in sorted(templates_dir().glob("*.json")):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and isinstance(data.get("nodes"), list):
            result.append(path)
    return result


@pytest.fixture(scope="session")
def index() -> ObjectInfoIndex:
    return ObjectInfoIndex.from_bytes(OBJECT_INFO_BYTES)


class Graph:
    """Builds schema-0.4 UI workflows by hand: ``g.node(...)`` then ``g.link(...)``."""

    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.links: list[list[Any]] = []
        self.extra: dict[str, Any] = {}
        self.subgraphs: list[dict[str, Any]] = []

    def node(
        self,
        node_id: int | str,
        type_: str,
        values: Any = None,
        *,
        inputs: list[tuple[str, str]] = (),
        outputs: list[tuple[str, str]] = (),
        mode: int = 0,
        title: str | None = None,
        widget_inputs: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        node: dict[str, Any] = {
            "id": node_id,
            "type": type_,
            "mode": mode,
            "pos": [0, 0],
            "size": [100, 100],
            "flags": {},
            "order": len(self.nodes),
            "properties": {},
            "inputs": [
                {"name": n, "type": t, "link": None, **({"widget": {"name": n}} if n in widget_inputs else {})}
                for n, t in inputs
            ],
            "outputs": [{"name": n, "type": t, "links": []} for n, t in outputs],
        }
        if values is not None:
            node["widgets_values"] = values
        if title:
            node["title"] = title
        self.nodes.append(node)
        return node

    def link(self, origin: int | str, origin_slot: int, target: int | str, target_input: str, type_: str = "*") -> int:
        link_id = len(self.links) + 1
        src = next(n for n in self.nodes if n["id"] == origin)
        dst = next(n for n in self.nodes if n["id"] == target)
        slot = next(i for i, inp in enumerate(dst["inputs"]) if inp["name"] == target_input)
        src["outputs"][origin_slot]["links"].append(link_id)
        dst["inputs"][slot]["link"] = link_id
        self.links.append([link_id, origin, origin_slot, target, slot, type_])
        return link_id

    def build(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "last_node_id": len(self.nodes),
            "last_link_id": len(self.links),
            "nodes": self.nodes,
            "links": self.links,
            "groups": [],
            "config": {},
            "extra": self.extra,
            "version": 0.4,
        }
        if self.subgraphs:
            data["definitions"] = {"subgraphs": self.subgraphs}
        return data


@pytest.fixture
def graph() -> Graph:
    return Graph()


@pytest.fixture(scope="session")
def index_session(index: ObjectInfoIndex) -> ObjectInfoIndex:
    return index
