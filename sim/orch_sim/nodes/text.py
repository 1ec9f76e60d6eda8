"""Primitive and string nodes (ComfyUI's `utils/primitive` and `utils/string`), computed for real."""

from __future__ import annotations

import re
from typing import Any

from .registry import NodeTable
from .values import get_bool, get_float, get_int, get_str

__all__ = ["TABLE"]

TABLE = NodeTable(real=True)


@TABLE.compute("PrimitiveString", "PrimitiveStringMultiline", inline=True)
def primitive_string(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return (get_str(inputs, "value"),)


@TABLE.compute("PrimitiveInt", inline=True)
def primitive_int(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return (get_int(inputs, "value"),)


@TABLE.compute("PrimitiveFloat", inline=True)
def primitive_float(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return (get_float(inputs, "value"),)


@TABLE.compute("PrimitiveBoolean", inline=True)
def primitive_boolean(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return (get_bool(inputs, "value"),)


def _flags(inputs: dict[str, Any]) -> int:
    flags = 0
    if get_bool(inputs, "case_insensitive", True):
        flags |= re.IGNORECASE
    if get_bool(inputs, "multiline", False):
        flags |= re.MULTILINE
    if get_bool(inputs, "dotall", False):
        flags |= re.DOTALL
    return flags


@TABLE.compute("RegexExtract", inline=True)
def regex_extract(inputs: dict[str, Any]) -> tuple[Any, ...]:
    text, pattern = get_str(inputs, "string"), get_str(inputs, "regex_pattern")
    mode, group = get_str(inputs, "mode", "First Match"), get_int(inputs, "group_index", 1)
    flags = _flags(inputs)
    result = ""
    if mode == "First Match":
        match = re.search(pattern, text, flags)
        result = match.group(0) if match else ""
    elif mode == "All Matches":
        result = "\n".join(m.group(0) for m in re.finditer(pattern, text, flags))
    elif mode == "First Group":
        match = re.search(pattern, text, flags)
        if match and len(match.groups()) >= group:
            result = match.group(group) or ""
    elif mode == "All Groups":
        found = [m.group(group) or "" for m in re.finditer(pattern, text, flags) if len(m.groups()) >= group]
        result = "\n".join(found)
    else:
        raise ValueError(f"unknown mode {mode!r}")
    return (result,)


@TABLE.compute("RegexMatch", inline=True)
def regex_match(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return (re.search(get_str(inputs, "regex_pattern"), get_str(inputs, "string"), _flags(inputs)) is not None,)


@TABLE.compute("RegexReplace", inline=True)
def regex_replace(inputs: dict[str, Any]) -> tuple[Any, ...]:
    text, pattern, replace = get_str(inputs, "string"), get_str(inputs, "regex_pattern"), get_str(inputs, "replace")
    return (re.sub(pattern, replace, text, count=get_int(inputs, "count", 0), flags=_flags(inputs)),)


@TABLE.compute("StringConcatenate", inline=True)
def string_concatenate(inputs: dict[str, Any]) -> tuple[Any, ...]:
    delimiter = get_str(inputs, "delimiter", "")
    return (delimiter.join((get_str(inputs, "string_a"), get_str(inputs, "string_b"))),)


@TABLE.compute("StringSubstring", inline=True)
def string_substring(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return (get_str(inputs, "string")[get_int(inputs, "start", 0) : get_int(inputs, "end", 0)],)


@TABLE.compute("StringLength", inline=True)
def string_length(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return (len(get_str(inputs, "string")),)


@TABLE.compute("CaseConverter", inline=True)
def case_converter(inputs: dict[str, Any]) -> tuple[Any, ...]:
    text, mode = get_str(inputs, "string"), get_str(inputs, "mode", "UPPERCASE")
    converters = {"UPPERCASE": str.upper, "lowercase": str.lower, "Capitalize": str.capitalize, "Title Case": str.title}
    return (converters.get(mode, lambda s: s)(text),)


@TABLE.compute("StringTrim", inline=True)
def string_trim(inputs: dict[str, Any]) -> tuple[Any, ...]:
    text, mode = get_str(inputs, "string"), get_str(inputs, "mode", "Both")
    return ({"Left": text.lstrip(), "Right": text.rstrip()}.get(mode, text.strip()),)


@TABLE.compute("StringReplace", inline=True)
def string_replace(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return (get_str(inputs, "string").replace(get_str(inputs, "find"), get_str(inputs, "replace")),)


@TABLE.compute("StringContains", inline=True)
def string_contains(inputs: dict[str, Any]) -> tuple[Any, ...]:
    text, part = get_str(inputs, "string"), get_str(inputs, "substring")
    if not get_bool(inputs, "case_sensitive", True):
        text, part = text.lower(), part.lower()
    return (part in text,)


@TABLE.compute("StringCompare", inline=True)
def string_compare(inputs: dict[str, Any]) -> tuple[Any, ...]:
    a, b, mode = get_str(inputs, "string_a"), get_str(inputs, "string_b"), get_str(inputs, "mode", "Equal")
    if not get_bool(inputs, "case_sensitive", True):
        a, b = a.lower(), b.lower()
    if mode == "Starts With":
        return (a.startswith(b),)
    if mode == "Ends With":
        return (a.endswith(b),)
    return (a == b,)
