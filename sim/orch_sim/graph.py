"""Execution order and cache keys for one prompt, following ComfyUI's rules.

Order: every output is added depth-first (a node's link inputs pushed in declaration order, popped last
first), cached upstream nodes are not added; among the runnable nodes the first output node wins, then
the first node that feeds an output directly, then one that feeds it two levels down, else the first
runnable node in insertion order. This reproduces the recorded orders (e.g. the mask run's
2, 1, 3, 4, 5, 6, 20, 7, 8, 9, 21, 22).

Cache keys: a node's key is its class, its `is_changed` value and its inputs, with each link replaced by
the linked node's key and slot. SaveImageWebsocket's `is_changed` is the time and LoadImage's the hash of
its file (their ComfyUI IS_CHANGED), so they and everything downstream re-run when that changes.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orch_sim.validation import is_link

__all__ = ["ALWAYS_CHANGED", "FILE_HASHED", "ExecutionOrder", "cache_keys", "is_changed_values"]

# Classes whose ComfyUI IS_CHANGED never matches the previous run (it returns the time).
ALWAYS_CHANGED = frozenset({"SaveImageWebsocket"})
# Classes whose IS_CHANGED is the SHA-256 of the input file they read.
FILE_HASHED = frozenset({"LoadImage", "LoadImageMask"})


def _file_hash(input_dir: Path, name: Any) -> str:
    path = input_dir / str(name).split(" [", 1)[0]
    digest = hashlib.sha256()
    digest.update(path.read_bytes())
    return digest.digest().hex()


def is_changed_values(prompt: dict[str, Any], input_dir: Path) -> dict[str, Any]:
    """ComfyUI's `is_changed` of every node whose class has IS_CHANGED: `[value]`, or NaN if it raised.

    ComfyUI also writes these into the prompt copy that nodes see (and SaveImage embeds in its PNGs).
    """
    values: dict[str, Any] = {}
    for node_id, node in prompt.items():
        class_type = node.get("class_type")
        if class_type in ALWAYS_CHANGED:
            values[node_id] = [time.time()]
        elif class_type in FILE_HASHED:
            try:
                values[node_id] = [_file_hash(input_dir, node.get("inputs", {}).get("image"))]
            except OSError:
                values[node_id] = float("nan")
    return values


def cache_keys(prompt: dict[str, Any], node_ids: list[str], is_changed: dict[str, Any]) -> dict[str, str]:
    """The cache key of every node reachable from `node_ids`."""
    keys: dict[str, str] = {}

    def key(node_id: str, trail: frozenset[str]) -> str:
        if node_id in keys:
            return keys[node_id]
        node = prompt[node_id]
        parts: list[Any] = [node["class_type"], repr(is_changed.get(node_id))]
        for name in sorted(node.get("inputs", {})):
            value = node["inputs"][name]
            if is_link(value) and value[0] in prompt and value[0] not in trail:
                parts.append([name, "link", key(value[0], trail | {node_id}), value[1]])
            else:
                parts.append([name, value])
        digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
        keys[node_id] = digest
        return digest

    for node_id in node_ids:
        key(node_id, frozenset())
    return keys


class ExecutionOrder:
    """Which node runs next; `done(node_id)` unblocks its dependents."""

    def __init__(self, prompt: dict[str, Any], is_output: Callable[[str], bool],
                 is_cached: Callable[[str], bool]) -> None:
        self.prompt = prompt
        self.is_output = is_output
        self.is_cached = is_cached
        self.pending: dict[str, None] = {}
        self.block_count: dict[str, int] = {}
        self.blocking: dict[str, dict[str, None]] = {}

    def add(self, node_id: str) -> None:
        stack = [node_id]
        links: list[tuple[str, str]] = []
        while stack:
            current = stack.pop()
            if current in self.pending:
                continue
            self.pending[current] = None
            self.block_count.setdefault(current, 0)
            self.blocking.setdefault(current, {})
            for value in self.prompt[current].get("inputs", {}).values():
                if is_link(value):
                    source = value[0]
                    if not self.is_cached(source):
                        stack.append(source)
                        links.append((source, current))
        for source, target in links:
            if source in self.pending and target not in self.blocking.setdefault(source, {}):
                self.blocking[source][target] = None
                self.block_count[target] = self.block_count.get(target, 0) + 1

    def __bool__(self) -> bool:
        return bool(self.pending)

    def _output_class(self, node_id: str) -> bool:
        return self.is_output(self.prompt[node_id]["class_type"])

    def next(self) -> str | None:
        ready = [node_id for node_id in self.pending if self.block_count.get(node_id, 0) == 0]
        if not ready:
            return None
        for node_id in ready:
            if self._output_class(node_id):
                return node_id
        for node_id in ready:
            if any(self._output_class(b) for b in self.blocking[node_id]):
                return node_id
        for node_id in ready:
            if any(self._output_class(b2) for b in self.blocking[node_id] for b2 in self.blocking.get(b, {})):
                return node_id
        return ready[0]

    def done(self, node_id: str) -> None:
        self.pending.pop(node_id, None)
        for target in self.blocking.get(node_id, {}):
            self.block_count[target] -= 1
