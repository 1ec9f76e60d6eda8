"""The seam between the server core and the node implementations in `orch_sim.nodes`.

The server only talks to nodes through the interface that package exports (`get_executor`,
`augment_object_info`, `validate_inputs_hook`, `model_free_classes` and the context dataclasses).
`ORCH_SIM_NODES=<module>` swaps in another module with the same interface (a fake node set for tests of
the core); when no node module can be imported the sim still serves every route but fails each node it
is asked to run.
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["NodeSet", "load_nodeset"]

log = logging.getLogger("orch_sim")

DEFAULT_MODULE = "orch_sim.nodes"


class NodeSet:
    """Typed access to a node module; every lookup tolerates a module that lacks the function."""

    def __init__(self, module: ModuleType | None) -> None:
        self.module = module

    @property
    def available(self) -> bool:
        return self.module is not None

    def executor(self, class_type: str) -> Any:
        if self.module is None:
            return None
        return self.module.get_executor(class_type)

    def augment_object_info(self, object_info: dict[str, Any], models: dict[str, list[str]]) -> dict[str, Any]:
        if self.module is None or not hasattr(self.module, "augment_object_info"):
            return object_info
        result: dict[str, Any] = self.module.augment_object_info(object_info, models)
        return result

    def model_free_classes(self) -> frozenset[str]:
        if self.module is None or not hasattr(self.module, "model_free_classes"):
            return frozenset()
        return frozenset(self.module.model_free_classes())

    def validate_inputs(self, class_type: str, inputs: dict[str, Any], dirs: Any) -> str | None:
        if self.module is None or not hasattr(self.module, "validate_inputs_hook"):
            return _fallback_validate(class_type, inputs, dirs)
        result: str | None = self.module.validate_inputs_hook(class_type, inputs, dirs)
        return result

    def validated_inputs(self, class_type: str) -> tuple[str, ...]:
        """Inputs the class checks itself (ComfyUI's VALIDATE_INPUTS arguments, e.g. LoadImage's `image`)."""
        if self.module is None or not hasattr(self.module, "validated_inputs"):
            return ("image",) if class_type in {"LoadImage", "LoadImageMask"} else ()
        return tuple(self.module.validated_inputs(class_type))

    def default_models(self) -> dict[str, list[str]]:
        if self.module is None or not hasattr(self.module, "default_models"):
            return {}
        models: dict[str, list[str]] = self.module.default_models()
        return models

    def make(self, name: str, **kwargs: Any) -> Any:
        """Build one of the module's dataclasses (`SimDirs`, `SimState`, `NodeContext`)."""
        if self.module is None or not hasattr(self.module, name):
            return _Plain(**kwargs)
        return getattr(self.module, name)(**kwargs)

    def interrupted_error(self) -> type[BaseException]:
        if self.module is not None and hasattr(self.module, "SimInterrupted"):
            exc: type[BaseException] = self.module.SimInterrupted
            return exc
        return _FallbackInterrupted


class _FallbackInterrupted(Exception):
    """Raised by `check_interrupted` when no node module provides `SimInterrupted`."""


class _Plain:
    """Attribute bag standing in for the node module's dataclasses when it is missing."""

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)


def _fallback_validate(class_type: str, inputs: dict[str, Any], dirs: Any) -> str | None:
    if class_type in {"LoadImage", "LoadImageMask"}:
        name = str(inputs.get("image", ""))
        if not (Path(dirs.input) / name).is_file():
            return f"Invalid image file: {name}"
    return None


def load_nodeset() -> NodeSet:
    """Import the node module named by `ORCH_SIM_NODES` (default `orch_sim.nodes`)."""
    name = os.environ.get("ORCH_SIM_NODES", DEFAULT_MODULE)
    try:
        return NodeSet(importlib.import_module(name))
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            log.warning("node module %s not found: every node will fail at run time", name)
            return NodeSet(None)
        raise
