"""Workflow intelligence: UI/API parsing, UI→API conversion, parameters, patching, ports, capability.

Pure library code: no I/O beyond what the caller hands in. The error tree is in ``errors``.
"""

from orch_common.workflow.api import ApiNode, ApiPrompt, WorkflowFormat, detect_format, parse_api
from orch_common.workflow.capability import (
    Capability,
    MissingValue,
    RequiredModel,
    check_capability,
    check_servers,
    required_node_classes,
)
from orch_common.workflow.convert import convert_ui_to_api
from orch_common.workflow.errors import (
    ConversionError,
    MissingNodeClassError,
    ObjectInfoError,
    PatchError,
    WorkflowError,
    WorkflowParseError,
)
from orch_common.workflow.exposed import (
    Constraints,
    ExposedParameter,
    ExposedWorkflow,
    ParameterAddress,
    expose,
    patch,
)
from orch_common.workflow.object_info import ClassInfo, ObjectInfoIndex, WidgetInput, index_for
from orch_common.workflow.params import Address, Parameter, Suggestion, inspect_parameters, suggest_exposed
from orch_common.workflow.ports import ArtifactKind, Port, Ports, find_ports
from orch_common.workflow.ui import UiWorkflow, parse_ui
from orch_common.workflow.validate import Problem, ProblemKind, validate_api_prompt

__all__ = [
    "Address",
    "ApiNode",
    "ApiPrompt",
    "ArtifactKind",
    "Capability",
    "ClassInfo",
    "Constraints",
    "ConversionError",
    "ExposedParameter",
    "ExposedWorkflow",
    "MissingNodeClassError",
    "MissingValue",
    "ObjectInfoError",
    "ObjectInfoIndex",
    "Parameter",
    "ParameterAddress",
    "PatchError",
    "Port",
    "Ports",
    "Problem",
    "ProblemKind",
    "RequiredModel",
    "Suggestion",
    "UiWorkflow",
    "WidgetInput",
    "WorkflowError",
    "WorkflowFormat",
    "WorkflowParseError",
    "check_capability",
    "check_servers",
    "convert_ui_to_api",
    "detect_format",
    "expose",
    "find_ports",
    "index_for",
    "inspect_parameters",
    "parse_api",
    "parse_ui",
    "patch",
    "required_node_classes",
    "suggest_exposed",
    "validate_api_prompt",
]
