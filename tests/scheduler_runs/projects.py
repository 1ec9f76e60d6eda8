"""Project documents for the run-engine tests."""

from __future__ import annotations

from typing import Any

from orch_common.contracts.projects import ProjectDocument, ProjectEdge, ProjectNode
from tests.helpers.workflows import txt2img as shared_txt2img


def txt2img(seed: int = 1, text: str = "a lighthouse", ckpt: str = "sim-sd15.safetensors") -> dict[str, Any]:
    workflow = shared_txt2img(seed=seed, steps=4, text=text)
    workflow["4"]["inputs"]["ckpt_name"] = ckpt
    return workflow


def invert() -> dict[str, Any]:
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": "placeholder.png"}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "inv", "images": ["2", 0]}},
    }


SEED = {
    "id": "seed",
    "label": "Seed",
    "address": {"node_id": "3", "input": "seed"},
    "type": "INT",
    "constraints": {"min": 0, "max": 2**64 - 1},
}
PROMPT = {
    "id": "prompt",
    "label": "Prompt",
    "address": {"node_id": "6", "input": "text"},
    "type": "STRING",
    "constraints": {"multiline": True},
}
STEPS = {
    "id": "steps",
    "label": "Steps",
    "address": {"node_id": "3", "input": "steps"},
    "type": "INT",
    "constraints": {"min": 1, "max": 100},
}


def gen_node(node_id: str = "gen", **kw: Any) -> ProjectNode:
    return ProjectNode(id=node_id, title="Generate", workflow_api=txt2img(), exposed=[SEED, PROMPT, STEPS], **kw)


def invert_node(node_id: str = "inv", **kw: Any) -> ProjectNode:
    return ProjectNode(id=node_id, title="Invert", workflow_api=invert(), **kw)


def edge(source: str, target: str, edge_id: str | None = None, kind: str = "IMAGE") -> ProjectEdge:
    return ProjectEdge(
        id=edge_id or f"{source}->{target}",
        source=source,
        source_port="9.images",
        target=target,
        target_port="1.image",
        kind=kind,
    )


def chain(pin: str | None = None) -> ProjectDocument:
    return ProjectDocument(
        name="chain", nodes=[gen_node(), invert_node(pinned_backend=pin)], edges=[edge("gen", "inv")]
    )


def branches() -> ProjectDocument:
    return ProjectDocument(
        name="branches",
        nodes=[gen_node("a"), gen_node("b"), invert_node("ia"), invert_node("ib")],
        edges=[edge("a", "ia"), edge("b", "ib")],
    )
