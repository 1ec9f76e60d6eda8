"""An index over a server's ``GET /object_info``: per class the widget inputs in frontend order.

The index is lazy: parsing the body is one ``json.loads``; a class is indexed the first time it is asked for.
``index_for(raw)`` caches indexes by the sha256 of the body, so a server's object_info is indexed once per
change. The widget list a class gets in the editor (``ClassInfo.widget_slots``) mirrors what the
ComfyUI frontend 1.27 builds: one widget per widget-typed input in ``input_order``, plus the hidden
companions (``control_after_generate`` after seeds, control + filter after COMBOs with it, the remote
refresh toggle/button, the ``upload`` button of image/video upload inputs) whose values sit in
``widgets_values`` but never reach the API prompt.
"""

from __future__ import annotations

import gc
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from orch_common.workflow.errors import ObjectInfoError

__all__ = [
    "ClassInfo",
    "InputType",
    "LinkInput",
    "ObjectInfoIndex",
    "OutputSpec",
    "WidgetInput",
    "WidgetSlot",
    "index_for",
]


class InputType(StrEnum):
    """The primitive widget types; anything else is a custom widget type or a link type."""

    INT = "INT"
    FLOAT = "FLOAT"
    STRING = "STRING"
    BOOLEAN = "BOOLEAN"
    COMBO = "COMBO"


PRIMITIVE_WIDGET_TYPES = frozenset(t.value for t in InputType)
# Widget types the stock frontend (1.27) registers besides the primitives; an input of any other type
# is a socket only.
CUSTOM_WIDGET_TYPES = frozenset(
    {
        "MARKDOWN",
        "IMAGEUPLOAD",
        "FILEUPLOAD",
        "COLOR",
        "IMAGECOMPARE",
        "TREESELECT",
        "MULTISELECT",
        "CHART",
        "GALLERIA",
        "SELECTBUTTON",
        "TEXTAREA",
        "LOAD_3D",
        "LOAD_3D_ANIMATION",
        "PREVIEW_3D",
        "PREVIEW_3D_ANIMATION",
        "WEBCAM",
        "AUDIO_RECORD",
        "AUDIOUPLOAD",
    }
)
SEED_NAMES = ("seed", "noise_seed")
UPLOAD_FLAGS = ("image_upload", "video_upload", "animated_image_upload")


@dataclass(frozen=True)
class WidgetInput:
    """An input the editor shows as a widget; its value is a literal in the API prompt."""

    name: str
    type: str
    required: bool
    default: Any = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    round: float | bool | None = None
    multiline: bool = False
    dynamic_prompts: bool = False
    control_after_generate: bool = False
    image_upload: bool = False
    upload_kind: str | None = None
    force_input: bool = False
    choices: tuple[Any, ...] | None = None
    options: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_custom(self) -> bool:
        return self.type not in PRIMITIVE_WIDGET_TYPES


@dataclass(frozen=True)
class LinkInput:
    """An input that only takes a link (MODEL, LATENT, …, or a ``forceInput`` primitive)."""

    name: str
    type: str
    required: bool
    force_input: bool = False
    options: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class OutputSpec:
    """One output slot of a class."""

    index: int
    name: str
    type: str
    is_list: bool = False


@dataclass(frozen=True)
class WidgetSlot:
    """One entry of the editor's widget list: ``widgets_values`` maps onto these positionally."""

    name: str
    default: Any
    in_api: bool
    input: WidgetInput | None = None


@dataclass(frozen=True)
class ClassInfo:
    """Everything the workflow code needs to know about one node class."""

    name: str
    display_name: str
    category: str
    output_node: bool
    python_module: str
    inputs: tuple[WidgetInput | LinkInput, ...]
    outputs: tuple[OutputSpec, ...]
    widget_slots: tuple[WidgetSlot, ...]
    raw: Mapping[str, Any] = field(compare=False, repr=False)

    @property
    def widget_inputs(self) -> tuple[WidgetInput, ...]:
        return tuple(i for i in self.inputs if isinstance(i, WidgetInput))

    @property
    def link_inputs(self) -> tuple[LinkInput, ...]:
        return tuple(i for i in self.inputs if isinstance(i, LinkInput))

    def input(self, name: str) -> WidgetInput | LinkInput | None:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        return None

    def socket_order(self) -> tuple[WidgetInput | LinkInput, ...]:
        """Input slots as the live editor node has them: link-only inputs first, then widget inputs."""
        return self.link_inputs + self.widget_inputs


def _number(value: Any) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _spec_type(spec: Any) -> tuple[str, dict[str, Any], tuple[Any, ...] | None]:
    """(type, options, choices) of one object_info input spec (V1 list form or bare string)."""
    if isinstance(spec, str):
        return spec, {}, None
    if not isinstance(spec, list | tuple) or not spec:
        return "*", {}, None
    head = spec[0]
    opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if isinstance(head, list | tuple):
        return "COMBO", opts, tuple(head)
    if head == "COMBO":
        options = opts.get("options")
        return "COMBO", opts, tuple(options) if isinstance(options, list | tuple) else ()
    return str(head), opts, None


def _build_input(name: str, spec: Any, required: bool) -> WidgetInput | LinkInput:
    type_, opts, choices = _spec_type(spec)
    force = bool(opts.get("forceInput", False))
    if (type_ not in PRIMITIVE_WIDGET_TYPES and type_ not in CUSTOM_WIDGET_TYPES) or force:
        return LinkInput(name=name, type=type_, required=required, force_input=force, options=opts)
    cag_opt = opts.get("control_after_generate")
    if type_ == "INT":
        control = bool(cag_opt) if cag_opt is not None else name in SEED_NAMES
    else:
        control = type_ == "COMBO" and bool(cag_opt)
    upload = next((flag for flag in UPLOAD_FLAGS if opts.get(flag) is True), None)
    default = opts.get("default")
    if default is None:
        default = _widget_default(type_, opts, choices)
    return WidgetInput(
        name=name,
        type=type_,
        required=required,
        default=default,
        min=_number(opts.get("min")),
        max=_number(opts.get("max")),
        step=_number(opts.get("step")),
        round=opts.get("round") if isinstance(opts.get("round"), int | float | bool) else None,
        multiline=bool(opts.get("multiline", False)),
        dynamic_prompts=bool(opts.get("dynamicPrompts", False)),
        control_after_generate=control,
        image_upload=upload is not None and type_ == "COMBO",
        upload_kind=upload.removesuffix("_upload") if upload and type_ == "COMBO" else None,
        choices=choices,
        options=opts,
    )


def _widget_default(type_: str, opts: Mapping[str, Any], choices: tuple[Any, ...] | None) -> Any:
    if type_ in ("INT", "FLOAT"):
        return 0
    if type_ == "STRING":
        return ""
    if type_ == "BOOLEAN":
        return False
    if type_ == "COMBO":
        return choices[0] if choices else None
    return None


def _ordered_names(section: Mapping[str, Any], order: Any) -> list[str]:
    if not isinstance(order, list):
        return list(section)
    listed = [n for n in order if isinstance(n, str) and n in section]
    return listed + [n for n in section if n not in listed]


def _build_class(name: str, raw: Any) -> ClassInfo:
    if not isinstance(raw, dict):
        raise ObjectInfoError(f"class {name!r} is a {type(raw).__name__}, not an object", name)
    spec_input = raw.get("input") or {}
    if not isinstance(spec_input, dict):
        raise ObjectInfoError("input is not an object", f"{name}.input")
    raw_order = raw.get("input_order")
    order: dict[str, Any] = raw_order if isinstance(raw_order, dict) else {}
    inputs: list[WidgetInput | LinkInput] = []
    for section, required in (("required", True), ("optional", False)):
        entries = spec_input.get(section)
        if entries is None:
            continue
        if not isinstance(entries, dict):
            raise ObjectInfoError(f"{section} is not an object", f"{name}.input.{section}")
        for input_name in _ordered_names(entries, order.get(section)):
            inputs.append(_build_input(input_name, entries[input_name], required))
    outputs = _build_outputs(name, raw)
    return ClassInfo(
        name=name,
        display_name=str(raw.get("display_name") or name),
        category=str(raw.get("category") or ""),
        output_node=bool(raw.get("output_node", False)),
        python_module=str(raw.get("python_module") or ""),
        inputs=tuple(inputs),
        outputs=outputs,
        widget_slots=_widget_slots(inputs, has_order=bool(order)),
        raw=raw,
    )


def _build_outputs(name: str, raw: Mapping[str, Any]) -> tuple[OutputSpec, ...]:
    types = raw.get("output") or []
    names = raw.get("output_name") or []
    lists = raw.get("output_is_list") or []
    if not isinstance(types, list):
        raise ObjectInfoError("output is not a list", f"{name}.output")
    result = []
    for i, t in enumerate(types):
        type_ = ",".join(map(str, t)) if isinstance(t, list) else str(t)
        out_name = names[i] if isinstance(names, list) and i < len(names) else type_
        is_list = bool(lists[i]) if isinstance(lists, list) and i < len(lists) else False
        result.append(OutputSpec(index=i, name=str(out_name), type=type_, is_list=is_list))
    return tuple(result)


def _widget_slots(inputs: list[WidgetInput | LinkInput], *, has_order: bool) -> tuple[WidgetSlot, ...]:
    slots: list[WidgetSlot] = []
    upload: WidgetSlot | None = None
    upload_at = 0  # without input_order the extension's `upload` lands after the required inputs
    for spec in inputs:
        if not isinstance(spec, WidgetInput):
            continue
        slots.append(WidgetSlot(spec.name, spec.default, in_api=True, input=spec))
        remote = spec.options.get("remote")
        if spec.type == "COMBO" and isinstance(remote, dict):
            slots.append(WidgetSlot("Auto-refresh after generation", False, in_api=False))
            if remote.get("refresh_button"):
                # A plain button without serialize=false: the frontend does emit it (ignored by the backend).
                slots.append(WidgetSlot("refresh", "refresh", in_api=True))
        if spec.control_after_generate:
            cag = spec.options.get("control_after_generate")
            control_name = cag if isinstance(cag, str) else "control_after_generate"
            slots.append(WidgetSlot(control_name, "randomize", in_api=False))
            if spec.type == "COMBO":
                slots.append(WidgetSlot("control_filter_list", "", in_api=False))
        if spec.required:
            upload_at = len(slots)
        if spec.image_upload and spec.required and upload is None:
            upload = WidgetSlot("upload", "image", in_api=False)
    if upload is None:
        return tuple(slots)
    # The frontend appends `upload` to `required`; input_order never names it, so then it comes last.
    at = len(slots) if has_order else upload_at
    return tuple([*slots[:at], upload, *slots[at:]])


class ObjectInfoIndex(Mapping[str, ClassInfo]):
    """Lazy per-class index of one server's object_info (a read-only mapping class name → ClassInfo)."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw
        self._built: dict[str, ClassInfo] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_bytes(cls, raw: bytes | str) -> ObjectInfoIndex:
        # A 50 MB body is millions of containers: cyclic GC passes during decoding would cost ~40 %.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ObjectInfoError(f"object_info is not valid JSON: {exc}") from exc
        finally:
            if was_enabled:
                gc.enable()
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> ObjectInfoIndex:
        if not isinstance(data, dict):
            raise ObjectInfoError(f"object_info must be an object of classes, got {type(data).__name__}")
        return cls(data)

    def __getitem__(self, name: str) -> ClassInfo:
        info = self._built.get(name)
        if info is not None:
            return info
        if name not in self._raw:
            raise KeyError(name)
        info = _build_class(name, self._raw[name])
        with self._lock:
            self._built.setdefault(name, info)
        return info

    def get_class(self, name: str) -> ClassInfo | None:
        """The class, or None when the server does not have it."""
        return self[name] if name in self._raw else None

    def __contains__(self, name: object) -> bool:
        return name in self._raw

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other


_CACHE: OrderedDict[str, ObjectInfoIndex] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 32


def index_for(raw: bytes) -> ObjectInfoIndex:
    """The index of an object_info body, built once per distinct body (keyed by its sha256)."""
    key = hashlib.sha256(raw).hexdigest()
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            _CACHE.move_to_end(key)
            return cached
    index = ObjectInfoIndex.from_bytes(raw)
    with _CACHE_LOCK:
        _CACHE[key] = index
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return index
