"""The node table: which executor runs which `class_type`, and which of them really compute (vs stand in).

Each family module owns a `NodeTable` and registers its executors with one of two decorators:

    @TABLE.node("KSampler")        an async executor `(ctx, inputs) -> NodeResult`
    @TABLE.compute("ImageBlur")    a pure function `(inputs) -> tuple of outputs`, run in a worker thread
                                   (`inline=True` for trivial ones) so heavy numpy work never blocks the loop
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .context import Executor, NodeContext, NodeResult

__all__ = ["ComputeFn", "NodeTable"]

ComputeFn = Callable[[dict[str, Any]], tuple[Any, ...]]


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
                if inline:
                    return NodeResult(function(inputs))
                return NodeResult(await asyncio.to_thread(function, inputs))

            for class_type in class_types:
                self._add(class_type, executor)
            return function

        return register
