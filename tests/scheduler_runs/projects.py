"""Project documents for the run-engine tests."""

from __future__ import annotations

from typing import Any

from orch_common.contracts.projects import ProjectDocument, ProjectEdge, ProjectNode


def txt2img(seed: int = 1, text: str = "a lighthouse", ckpt: str = "sim-sd15.safetensors") -> dict[str, Any]:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": seed,
                "steps": 4,
                "cfg": 7.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "gen", "images": ["8", 0]}},
    }


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
