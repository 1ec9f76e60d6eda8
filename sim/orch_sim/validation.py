"""`POST /prompt` validation with ComfyUI 0.3.64's verdicts, error types and `extra_info` shapes.

`validate_prompt` walks back from every output node. Link inputs are checked before the linked node is
validated; a link that names a missing node or slot raises inside the *linked* node's check, and the
caller files it under the linked node with its own input's name (`exception_during_inner_validation`), the
way the recordings show. Widget values are converted in place (INT/FLOAT/STRING/BOOLEAN, `__value__`
unwrapped), so the queued prompt and its history carry the converted values.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orch_sim.catalog import Catalog

__all__ = ["ValidationResult", "exception_type_name", "is_link", "validate_prompt"]

Verdict = tuple[bool, list[dict[str, Any]], str]
CustomCheck = Callable[[str, dict[str, Any]], str | None]
SelfChecked = Callable[[str], tuple[str, ...]]


@dataclass
class ValidationResult:
    """`ok` with the outputs to run; otherwise `error` (the top-level error object) is set."""

    ok: bool
    error: dict[str, Any] | None = None
    outputs: list[str] = field(default_factory=list)
    node_errors: dict[str, Any] = field(default_factory=dict)


def is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2


def _error(kind: str, message: str, details: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": extra or {}}


def exception_type_name(exc: BaseException) -> str:
    """How ComfyUI names an exception's type: builtins bare, others with their module."""
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def types_match(received: Any, expected: Any) -> bool:
    """ComfyUI's link type check: equal, `*` on either side, or overlapping comma-separated sets."""
    if received == expected or received == "*" or expected == "*":
        return True
    if isinstance(expected, list) and received == "COMBO":
        return True
    if not isinstance(received, str) or not isinstance(expected, str):
        return False
    got = {part.strip() for part in received.split(",")}
    want = {part.strip() for part in expected.split(",")}
    return bool(got & want)


def _combo_options(input_type: Any, options: dict[str, Any]) -> list[Any] | None:
    if isinstance(input_type, list):
        return input_type
    if input_type == "COMBO":
        listed = options.get("options")
        return list(listed) if isinstance(listed, list) else None
    return None


_CONVERTERS: dict[str, Callable[[Any], Any]] = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}


class _Validator:
    def __init__(self, prompt: dict[str, Any], catalog: Catalog, custom_check: CustomCheck,
                 self_checked: SelfChecked) -> None:
        self.prompt = prompt
        self.catalog = catalog
        self.custom_check = custom_check
        self.self_checked = self_checked
        self.validated: dict[str, Verdict] = {}

    def node(self, node_id: str) -> Verdict:
        if node_id in self.validated:
            return self.validated[node_id]
        node = self.prompt[node_id]
        inputs: dict[str, Any] = node["inputs"]
        class_type: str = node["class_type"]
        errors: list[dict[str, Any]] = []
        valid = True
        checked_by_node = self.self_checked(class_type)
        for name, (input_type, options, category) in self.catalog.inputs(class_type).items():
            config = [input_type, options]
            if name not in inputs:
                if category == "required":
                    errors.append(_error("required_input_missing", "Required input is missing", name,
                                         {"input_name": name}))
                continue
            value = inputs[name]
            if isinstance(value, list):
                if len(value) != 2:
                    errors.append(_error(
                        "bad_linked_input", "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                        name, {"input_name": name, "input_config": config, "received_value": value}))
                    continue
                if not self._link(name, value, input_type, config, errors):
                    valid = False
                continue
            error = self._widget(inputs, name, value, input_type, options, config, name in checked_by_node)
            if error is not None:
                errors.append(error)
        message = self.custom_check(class_type, {k: v for k, v in inputs.items() if not is_link(v)})
        if message is not None:
            for target in checked_by_node or (next(iter(self.catalog.inputs(class_type)), ""),):
                errors.append(_error("custom_validation_failed", "Custom validation failed for node",
                                     f"{target} - {message}", {"input_name": target}))
        verdict: Verdict = (not errors and valid, errors, node_id)
        self.validated[node_id] = verdict
        return verdict

    def _link(self, name: str, link: list[Any], input_type: Any, config: list[Any],
              errors: list[dict[str, Any]]) -> bool:
        source_id = link[0]
        # Both lookups may raise (missing node, missing slot): the caller files that under *our* node.
        received = self.catalog.return_types(self.prompt[source_id]["class_type"])[link[1]]
        if not types_match(received, input_type):
            errors.append(_error(
                "return_type_mismatch", "Return type mismatch between linked nodes",
                f"{name}, received_type({received}) mismatch input_type({input_type})",
                {"input_name": name, "input_config": config, "received_type": received, "linked_node": link}))
            return True
        try:
            ok, _, _ = self.node(source_id)
        except Exception as exc:
            _, _, tb = sys.exc_info()
            self.validated[source_id] = (False, [_error(
                "exception_during_inner_validation", "Exception when validating inner node", str(exc),
                {"input_name": name, "input_config": config, "exception_message": str(exc),
                 "exception_type": exception_type_name(exc), "traceback": traceback.format_tb(tb),
                 "linked_node": link})], source_id)
            return False
        return ok

    def _widget(self, inputs: dict[str, Any], name: str, value: Any, input_type: Any,
                options: dict[str, Any], config: list[Any], checked_by_node: bool) -> dict[str, Any] | None:
        if isinstance(value, dict) and "__value__" in value:
            value = inputs[name] = value["__value__"]
        converter = _CONVERTERS.get(input_type) if isinstance(input_type, str) else None
        if converter is not None:
            try:
                value = inputs[name] = converter(value)
            except Exception as exc:
                return _error("invalid_input_type", f"Failed to convert an input value to a {input_type} value",
                              f"{name}, {value}, {exc}",
                              {"input_name": name, "input_config": config, "received_value": value,
                               "exception_message": str(exc)})
        if checked_by_node:
            return None  # the node validates it itself (ComfyUI's VALIDATE_INPUTS skips these checks)
        try:
            if "min" in options and value < options["min"]:
                return _error("value_smaller_than_min", f"Value {value} smaller than min of {options['min']}",
                              name, {"input_name": name, "input_config": config, "received_value": value})
            if "max" in options and value > options["max"]:
                return _error("value_bigger_than_max", f"Value {value} bigger than max of {options['max']}",
                              name, {"input_name": name, "input_config": config, "received_value": value})
        except TypeError:
            pass
        choices = _combo_options(input_type, options)
        if choices is not None and value not in choices:
            listing: Any = str(choices)
            shown: Any = config
            if len(choices) > 20:
                listing, shown = f"(list of length {len(choices)})", None
            return _error("value_not_in_list", "Value not in list", f"{name}: '{value}' not in {listing}",
                          {"input_name": name, "input_config": shown, "received_value": value})
        return None


def validate_prompt(prompt: dict[str, Any], catalog: Catalog, custom_check: CustomCheck,
                    self_checked: SelfChecked, partial_targets: list[str] | None = None) -> ValidationResult:
    """Validate an API-format prompt; may raise (TypeError, AttributeError) on structurally broken input,
    which the route turns into ComfyUI's 500."""
    outputs: list[str] = []
    for node_id, node in prompt.items():
        if "class_type" not in node:
            return ValidationResult(False, _error(
                "invalid_prompt", "Cannot execute because a node is missing the class_type property.",
                f"Node ID '#{node_id}'"))
        class_type = node["class_type"]
        if class_type not in catalog:
            return ValidationResult(False, _error(
                "invalid_prompt", f"Cannot execute because node {class_type} does not exist.",
                f"Node ID '#{node_id}'"))
        if catalog.is_output(class_type) and (partial_targets is None or node_id in partial_targets):
            outputs.append(node_id)
    if not outputs:
        return ValidationResult(False, _error("prompt_no_outputs", "Prompt has no outputs", ""))

    validator = _Validator(prompt, catalog, custom_check, self_checked)
    good: list[str] = []
    failures: list[tuple[str, list[dict[str, Any]]]] = []
    node_errors: dict[str, Any] = {}
    for output_id in outputs:
        try:
            ok, reasons, _ = validator.node(output_id)
        except Exception as exc:
            _, _, tb = sys.exc_info()
            ok, reasons = False, [_error("exception_during_validation", "Exception when validating node",
                                         str(exc), {"exception_type": exception_type_name(exc),
                                                    "traceback": traceback.format_tb(tb)})]
            validator.validated[output_id] = (False, reasons, output_id)
        if ok:
            good.append(output_id)
            continue
        failures.append((output_id, reasons))
        # Like ComfyUI, every node with errors so far lists this output as dependent.
        for node_id, (node_ok, node_reasons, _) in validator.validated.items():
            if node_ok or not node_reasons:
                continue
            entry = node_errors.setdefault(node_id, {
                "errors": node_reasons, "dependent_outputs": [], "class_type": prompt[node_id]["class_type"]})
            entry["dependent_outputs"].append(output_id)
    if not good:
        details = "\n".join(f"{e['message']}: {e['details']}" for _, reasons in failures for e in reasons)
        return ValidationResult(False, _error("prompt_outputs_failed_validation", "Prompt outputs failed validation",
                                              details), [], node_errors)
    return ValidationResult(True, None, good, node_errors)
