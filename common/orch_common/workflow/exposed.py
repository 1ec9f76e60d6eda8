"""Exposed parameters: a workflow plus the named knobs a caller may turn, and patching them.

``ExposedWorkflow`` is our wire shape (frozen pydantic); ``patch`` returns a new API prompt with the values
set, after checking each against the parameter's constraints (type, range, choices) and, when an index is
given, against the executing server's object_info. See docs/workflow-parameters.md.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from orch_common.workflow.api import ApiPrompt, parse_api
from orch_common.workflow.errors import PatchError
from orch_common.workflow.object_info import ObjectInfoIndex, WidgetInput
from orch_common.workflow.params import Parameter, inspect_parameters, suggest_exposed
from orch_common.workflow.validate import Problem, check_value, validate_api_prompt, wrap_if_list

__all__ = [
    "Constraints",
    "ExposedParameter",
    "ExposedWorkflow",
    "ParameterAddress",
    "Problem",
    "expose",
    "patch",
    "validate_api_prompt",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ParameterAddress(_Frozen):
    """Where a parameter lives: the API node id and the input name."""

    node_id: str
    input: str


class Constraints(_Frozen):
    # int before float: seeds' 2**64-1 bound must not turn into an inexact float.
    min: int | float | None = None
    max: int | float | None = None
    step: int | float | None = None
    round: int | float | bool | None = None
    choices: list[Any] | None = None
    multiline: bool = False
    dynamic_prompts: bool = False
    upload: bool = False


class ExposedParameter(_Frozen):
    id: str = Field(min_length=1)
    label: str
    address: ParameterAddress
    type: str
    constraints: Constraints = Constraints()
    default: Any = None
    value: Any = None

    def as_widget_input(self) -> WidgetInput:
        c = self.constraints
        return WidgetInput(
            name=self.address.input,
            type=self.type,
            required=True,
            default=self.default,
            min=c.min,
            max=c.max,
            step=c.step,
            round=c.round,
            choices=tuple(c.choices) if c.choices is not None else None,
            image_upload=c.upload,
        )

    @classmethod
    def from_parameter(cls, parameter: Parameter, id: str, label: str) -> ExposedParameter:
        p = parameter
        return cls(
            id=id,
            label=label,
            address=ParameterAddress(node_id=p.address.node_id, input=p.address.input),
            type=p.type,
            constraints=Constraints(
                min=p.min,
                max=p.max,
                step=p.step,
                round=p.round,
                choices=list(p.choices) if p.choices is not None else None,
                multiline=p.multiline,
                dynamic_prompts=p.dynamic_prompts,
                upload=p.image_upload,
            ),
            default=p.default,
            value=p.value,
        )


class ExposedWorkflow(_Frozen):
    """An API prompt (and optionally its UI source) with the parameters offered to callers."""

    api: dict[str, Any]
    ui: dict[str, Any] | None = None
    parameters: list[ExposedParameter] = []

    def parameter(self, parameter_id: str) -> ExposedParameter | None:
        return next((p for p in self.parameters if p.id == parameter_id), None)


def expose(
    api_prompt: Mapping[str, Any], index: ObjectInfoIndex, ui: Mapping[str, Any] | None = None
) -> ExposedWorkflow:
    """An ``ExposedWorkflow`` with the suggested parameters (seed, steps, prompts, size, images, …)."""
    suggestions = suggest_exposed(inspect_parameters(api_prompt, index, ui))
    return ExposedWorkflow(
        api=dict(api_prompt),
        ui=dict(ui) if ui is not None else None,
        parameters=[ExposedParameter.from_parameter(s.parameter, s.id, s.label) for s in suggestions],
    )


def patch(
    api_prompt: ApiPrompt | Mapping[str, Any],
    values: Mapping[str, Any],
    exposed: ExposedWorkflow,
    index: ObjectInfoIndex | None = None,
) -> dict[str, Any]:
    """A new prompt with ``values`` (parameter id → value) applied; ``PatchError`` names a rejected one."""
    raw = dict(api_prompt.raw) if isinstance(api_prompt, ApiPrompt) else dict(api_prompt)
    prompt = parse_api(raw)
    result = copy.deepcopy(raw)
    for parameter_id, value in values.items():
        param = exposed.parameter(parameter_id)
        if param is None:
            known = ", ".join(p.id for p in exposed.parameters) or "none"
            raise PatchError(parameter_id, f"no such parameter (exposed: {known})")
        node_id, input_name = param.address.node_id, param.address.input
        if node_id not in prompt:
            raise PatchError(parameter_id, f"its node {node_id} is not in the prompt")
        spec = param.as_widget_input()
        if index is not None:
            info = index.get_class(prompt[node_id].class_type)
            server_spec = info.input(input_name) if info else None
            if not isinstance(server_spec, WidgetInput):
                raise PatchError(
                    parameter_id,
                    f"{prompt[node_id].class_type}.{input_name} is not a widget input on this server",
                )
            spec = server_spec
        found = check_value(spec, value)
        if found:
            raise PatchError(parameter_id, f"{found[1]} ({found[0].value})")
        if spec.type == "INT" and isinstance(value, float):
            value = int(value)
        result[node_id].setdefault("inputs", {})[input_name] = wrap_if_list(value)
    return result
