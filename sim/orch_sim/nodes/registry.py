"""The node table: which executor runs which `class_type`, and which of them really compute (vs stand in).

Each family module owns a `NodeTable` and registers its executors with one of two decorators:

    @TABLE.node("KSampler")        an async executor `(ctx, inputs) -> NodeResult`
    @TABLE.compute("ImageBlur")    a pure function `(inputs) -> tuple of outputs`, run in a worker thread
                                   (`inline=True` for trivial ones) so heavy numpy work never blocks the loop

Work on tiny inputs (`is_small`) runs on the loop either way: handing it to a thread costs more than it does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np

from .context import Executor, NodeContext, NodeResult

__all__ = ["SMALL_ELEMENTS", "ComputeFn", "NodeTable", "is_small", "off_loop"]

ComputeFn = Callable[[dict[str, Any]], tuple[Any, ...]]
T = TypeVar("T")

SMALL_ELEMENTS = 64 * 64 * 4
"""Up to this many array elements in and out (a 64×64 RGBA image), a node's numpy work runs on the loop."""

_SIZE_INPUTS = ("width", "height", "batch_size", "length")


def _elements(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return int(value.size)
    if isinstance(value, Mapping):  # a LATENT is {"samples": array, ...}
        return sum(int(v.size) for v in value.values() if isinstance(v, np.ndarray))
    return 0


def is_small(inputs: Mapping[str, Any]) -> bool:
    """Whether the inputs' arrays, and the size they ask for (width × height × batch …), are tiny."""
    asked = 1
    for name in _SIZE_INPUTS:
        value = inputs.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            asked *= max(1, value)
    return asked * 4 <= SMALL_ELEMENTS and sum(_elements(v) for v in inputs.values()) <= SMALL_ELEMENTS


async def off_loop(small: bool, function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` on the loop when `small`, else in a worker thread."""
    if small:
        return function(*args)
    return await asyncio.to_thread(function, *args)


class NodeTable:
    """The executors of one family of nodes; `real` says whether they compute for real or stand in for models."""

    def __init__(self, *, real: bool) -> None:
        self.real = real
        self.executors: dict[str, Executor] = {}

    def _add(self, class_type: str, executor: Executor) -> None:
        if class_type in self.executors:
            raise ValueError(f"node class {class_type!r} registered twice")
        self.executors[class_type] = executor

    def node(self, *class_types: str) -> Callable[[Executor], Executor]:
        """Register an async executor under one or more class types."""

        def register(executor: Executor) -> Executor:
            for class_type in class_types:
                self._add(class_type, executor)
            return executor

        return register

    def compute(self, *class_types: str, inline: bool = False) -> Callable[[ComputeFn], ComputeFn]:
        """Register a pure function of the inputs; its tuple becomes the node's outputs (no UI)."""

        def register(function: ComputeFn) -> ComputeFn:
            async def executor(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
                if inline or is_small(inputs):
                    return NodeResult(function(inputs))
                return NodeResult(await asyncio.to_thread(function, inputs))

            for class_type in class_types:
                self._add(class_type, executor)
            return function

        return register
