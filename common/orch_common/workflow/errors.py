"""The error tree of workflow intelligence.

Every error carries a ``path`` pointing at the bad element (``nodes[3].widgets_values[1]``,
``prompt["7"].inputs.seed``) and a message naming what is wrong::

    WorkflowError                 any problem with a workflow, an object_info or a patch
    ├── WorkflowParseError        the JSON is not a valid UI or API workflow
    ├── ObjectInfoError           the object_info body is malformed
    ├── ConversionError           UI → API conversion cannot proceed
    │   └── MissingNodeClassError a node's class is not on the server (names node id and class)
    └── PatchError                a parameter value is rejected (names the parameter)
"""

from __future__ import annotations

__all__ = [
    "ConversionError",
    "MissingNodeClassError",
    "ObjectInfoError",
    "PatchError",
    "WorkflowError",
    "WorkflowParseError",
]


class WorkflowError(ValueError):
    """Base of the tree: ``path`` locates the bad element, ``message`` says what is wrong."""

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


class WorkflowParseError(WorkflowError):
    """The data is not a well-formed UI or API workflow."""


class ObjectInfoError(WorkflowError):
    """The ``/object_info`` body cannot be read."""


class ConversionError(WorkflowError):
    """The UI workflow cannot be turned into an API prompt."""


class MissingNodeClassError(ConversionError):
    """A node's class is absent from the server's object_info."""

    def __init__(self, node_id: str, class_type: str, path: str = "") -> None:
        self.node_id = node_id
        self.class_type = class_type
        super().__init__(
            f"node {node_id} has class {class_type!r}, which this server's object_info does not define "
            "(custom node not installed?)",
            path,
        )


class PatchError(WorkflowError):
    """A value for an exposed parameter is rejected."""

    def __init__(self, parameter_id: str, message: str) -> None:
        self.parameter_id = parameter_id
        super().__init__(f"parameter {parameter_id!r}: {message}", f"parameters.{parameter_id}")
