"""ComfyUI's wire shapes mirrored as pydantic models: websocket messages and HTTP bodies.

These are foreign shapes: every model accepts unknown fields (``extra="allow"``) so a newer server
that adds a field does not break us, and is frozen so a parsed value can be shared safely.

Websocket text messages are ``{"type": <event>, "data": {...}}``; :func:`parse_ws_message` turns one
into the matching ``*Message`` model of the :data:`WsMessage` union, or into :class:`UnknownMessage`
for a type we do not model (custom nodes may send anything). It never raises on content.

HTTP bodies: :class:`PromptRequest` / :class:`PromptAccepted` / :class:`ValidationErrorBody` for
``POST /prompt``, :class:`QueueState` of :class:`QueueItem` (a JSON array on the wire) for ``/queue``,
:class:`HistoryEntry` for ``/history``, :class:`UploadedFile`, :class:`SystemStats`, :class:`NodeInfo`
(one ``/object_info`` entry), :class:`Job` / :class:`JobsPage` for ``/api/jobs`` (newer servers).
UI outputs (``executed.output``, ``history.outputs[node]``) are walked by :func:`output_items`.

``model.to_wire()`` gives the JSON ComfyUI would send (the simulator serves these): every recorded
message and body parses and dumps back to itself.
"""

from __future__ import annotations

import contextlib
import json
import logging
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    ValidationError,
    model_serializer,
    model_validator,
)

__all__ = [
    "DeviceInfo",
    "ErrorDetail",
    "ExecInfo",
    "ExecutedData",
    "ExecutedMessage",
    "ExecutingData",
    "ExecutingMessage",
    "ExecutionCachedData",
    "ExecutionCachedMessage",
    "ExecutionErrorData",
    "ExecutionErrorMessage",
    "ExecutionInterruptedData",
    "ExecutionInterruptedMessage",
    "ExecutionStartData",
    "ExecutionStartMessage",
    "ExecutionSuccessData",
    "ExecutionSuccessMessage",
    "FeatureFlags",
    "FeatureFlagsMessage",
    "FolderType",
    "HistoryEntry",
    "HistoryStatus",
    "HistoryStatusInfo",
    "Job",
    "JobStatus",
    "JobsPage",
    "LogEntry",
    "LogsData",
    "LogsMessage",
    "MessageType",
    "NodeError",
    "NodeInfo",
    "NodeMeta",
    "NodeProgress",
    "NodeState",
    "OutputFile",
    "OutputFileItem",
    "OutputItem",
    "OutputText",
    "OutputValue",
    "Pagination",
    "ProgressData",
    "ProgressMessage",
    "ProgressStateData",
    "ProgressStateMessage",
    "PromptAccepted",
    "PromptInfo",
    "PromptRequest",
    "QueueItem",
    "QueueState",
    "StatusData",
    "StatusMessage",
    "SystemInfo",
    "SystemStats",
    "UnknownMessage",
    "UploadedFile",
    "ValidationErrorBody",
    "WsMessage",
    "output_items",
    "parse_ws_message",
]

log = logging.getLogger(__name__)


class _Wire(BaseModel):
    """A foreign shape: unknown fields are kept, values are immutable.

    Dumping gives the JSON ComfyUI sends; the few fields ComfyUI leaves out rather than sending null
    (``_omitted_when_none``) are dropped when None.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    _omitted_when_none: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _drop_omitted(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for name in self._omitted_when_none:
                if name in data and data[name] is None:
                    del data[name]
        return data

    def to_wire(self) -> Any:
        """The JSON value as ComfyUI sends it."""
        return self.model_dump(mode="json")


# --- protocol constants -------------------------------------------------------------------------


class MessageType(StrEnum):
    """The ``type`` of a websocket text message."""

    STATUS = "status"
    EXECUTION_START = "execution_start"
    EXECUTION_CACHED = "execution_cached"
    EXECUTING = "executing"
    PROGRESS = "progress"
    PROGRESS_STATE = "progress_state"
    EXECUTED = "executed"
    EXECUTION_SUCCESS = "execution_success"
    EXECUTION_ERROR = "execution_error"
    EXECUTION_INTERRUPTED = "execution_interrupted"
    FEATURE_FLAGS = "feature_flags"
    LOGS = "logs"


class FolderType(StrEnum):
    """The ``type`` of a file reference: which of the server's directories it lives in."""

    INPUT = "input"
    OUTPUT = "output"
    TEMP = "temp"


class HistoryStatus(StrEnum):
    """``status.status_str`` of a history entry."""

    SUCCESS = "success"
    ERROR = "error"


class NodeState(StrEnum):
    """``state`` of one node in a ``progress_state`` snapshot."""

    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    ERROR = "error"


class JobStatus(StrEnum):
    """``status`` of a job in ``/api/jobs`` (newer servers)."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


# --- websocket messages -------------------------------------------------------------------------


class ExecInfo(_Wire):
    queue_remaining: int


class _StatusInner(_Wire):
    exec_info: ExecInfo


class StatusData(_Wire):
    """``sid`` is only in the first status a socket gets."""

    _omitted_when_none = frozenset({"sid"})

    status: _StatusInner
    sid: str | None = None

    @property
    def queue_remaining(self) -> int:
        return self.status.exec_info.queue_remaining


class ExecutionStartData(_Wire):
    prompt_id: str
    timestamp: int | None = None


class ExecutionCachedData(_Wire):
    nodes: list[str]
    prompt_id: str
    timestamp: int | None = None


class ExecutingData(_Wire):
    """``node`` is None once the whole prompt is finished and its history written.

    On reconnect the server replays the running node without ``prompt_id``.
    """

    _omitted_when_none = frozenset({"display_node", "prompt_id"})

    node: str | None
    display_node: str | None = None
    prompt_id: str | None = None


class ProgressData(_Wire):
    value: int | float
    max: int | float
    prompt_id: str | None = None
    node: str | None = None


class NodeProgress(_Wire):
    value: float
    max: float
    state: NodeState | str
    node_id: str
    prompt_id: str | None = None
    display_node_id: str | None = None
    parent_node_id: str | None = None
    real_node_id: str | None = None


class ProgressStateData(_Wire):
    """A full snapshot of the started nodes of a prompt (pending nodes are omitted)."""

    prompt_id: str
    nodes: dict[str, NodeProgress]


class ExecutedData(_Wire):
    node: str
    display_node: str | None = None
    output: dict[str, Any] | None = None
    prompt_id: str

    def output_items(self) -> list[OutputItem]:
        """The typed items of this node's UI output."""
        return output_items(self.node, self.output)


class ExecutionSuccessData(_Wire):
    prompt_id: str
    timestamp: int | None = None


class ExecutionErrorData(_Wire):
    prompt_id: str
    node_id: str
    node_type: str
    executed: list[str] = []
    exception_message: str = ""
    exception_type: str = ""
    traceback: list[str] = []
    current_inputs: dict[str, Any] | list[Any] = {}
    current_outputs: dict[str, Any] | list[Any] = []
    timestamp: int | None = None


class ExecutionInterruptedData(_Wire):
    prompt_id: str
    node_id: str | None = None
    node_type: str | None = None
    executed: list[str] = []
    timestamp: int | None = None


class FeatureFlags(_Wire):
    """Feature flags, sent by a client as the first message and answered by the server with its own."""

    supports_preview_metadata: bool | None = None
    max_upload_size: int | None = None


class LogEntry(_Wire):
    t: str
    m: str


class _TerminalSize(_Wire):
    cols: int
    rows: int


class LogsData(_Wire):
    entries: list[LogEntry]
    size: _TerminalSize | None = None


class _Message(_Wire):
    """A websocket text message ``{"type": ..., "data": {...}}``; ``type`` is set by the class."""

    type: MessageType


class StatusMessage(_Message):
    type: Literal[MessageType.STATUS] = MessageType.STATUS
    data: StatusData


class ExecutionStartMessage(_Message):
    type: Literal[MessageType.EXECUTION_START] = MessageType.EXECUTION_START
    data: ExecutionStartData


class ExecutionCachedMessage(_Message):
    type: Literal[MessageType.EXECUTION_CACHED] = MessageType.EXECUTION_CACHED
    data: ExecutionCachedData


class ExecutingMessage(_Message):
    type: Literal[MessageType.EXECUTING] = MessageType.EXECUTING
    data: ExecutingData


class ProgressMessage(_Message):
    type: Literal[MessageType.PROGRESS] = MessageType.PROGRESS
    data: ProgressData


class ProgressStateMessage(_Message):
    type: Literal[MessageType.PROGRESS_STATE] = MessageType.PROGRESS_STATE
    data: ProgressStateData


class ExecutedMessage(_Message):
    type: Literal[MessageType.EXECUTED] = MessageType.EXECUTED
    data: ExecutedData


class ExecutionSuccessMessage(_Message):
    type: Literal[MessageType.EXECUTION_SUCCESS] = MessageType.EXECUTION_SUCCESS
    data: ExecutionSuccessData


class ExecutionErrorMessage(_Message):
    type: Literal[MessageType.EXECUTION_ERROR] = MessageType.EXECUTION_ERROR
    data: ExecutionErrorData


class ExecutionInterruptedMessage(_Message):
    type: Literal[MessageType.EXECUTION_INTERRUPTED] = MessageType.EXECUTION_INTERRUPTED
    data: ExecutionInterruptedData


class FeatureFlagsMessage(_Message):
    type: Literal[MessageType.FEATURE_FLAGS] = MessageType.FEATURE_FLAGS
    data: FeatureFlags


class LogsMessage(_Message):
    type: Literal[MessageType.LOGS] = MessageType.LOGS
    data: LogsData


class UnknownMessage(_Wire):
    """A text message of a type we do not model, or of a known type whose body did not fit its model."""

    type: str
    data: Any = None


WsMessage = Annotated[
    StatusMessage
    | ExecutionStartMessage
    | ExecutionCachedMessage
    | ExecutingMessage
    | ProgressMessage
    | ProgressStateMessage
    | ExecutedMessage
    | ExecutionSuccessMessage
    | ExecutionErrorMessage
    | ExecutionInterruptedMessage
    | FeatureFlagsMessage
    | LogsMessage,
    Field(discriminator="type"),
]

_WS_MESSAGE: TypeAdapter[WsMessage] = TypeAdapter(WsMessage)
_KNOWN_TYPES = frozenset(MessageType)


def parse_ws_message(raw: str | bytes | dict[str, Any]) -> WsMessage | UnknownMessage:
    """Parse one websocket text message; anything we cannot model becomes an :class:`UnknownMessage`."""
    if isinstance(raw, str | bytes):
        with contextlib.suppress(ValidationError):  # the usual case in one pass; the rest is told apart below
            return _WS_MESSAGE.validate_json(raw)
        try:
            raw = json.loads(raw)
        except ValueError:
            log.warning("websocket text message is not JSON: %.200r", raw)
            return UnknownMessage(type="", data=raw)
    if not isinstance(raw, dict):
        log.warning("websocket message is not a JSON object: %.200r", raw)
        return UnknownMessage(type="", data=raw)
    msg_type = raw.get("type")
    if not isinstance(msg_type, str):
        log.warning("websocket message without a string type: %.200r", raw)
        return UnknownMessage(type="", data=raw.get("data"))
    if msg_type not in _KNOWN_TYPES:
        log.info("unknown websocket message type %r", msg_type)
        return UnknownMessage(type=msg_type, data=raw.get("data"))
    try:
        return _WS_MESSAGE.validate_python(raw)
    except ValidationError as exc:
        log.warning("websocket %s message does not fit its model: %s", msg_type, exc)
        return UnknownMessage(type=msg_type, data=raw.get("data"))


# --- UI outputs ---------------------------------------------------------------------------------


class OutputFile(_Wire):
    """A file reference as ComfyUI gives it in UI outputs (fetch it with ``GET /view``)."""

    filename: str
    subfolder: str = ""
    type: FolderType | str = FolderType.OUTPUT


class OutputFileItem(_Wire):
    """A file among a node's UI outputs, e.g. one of ``images``; ``animated`` if the output says so."""

    node_id: str
    kind: str
    index: int
    file: OutputFile
    animated: bool = False


class OutputText(_Wire):
    """A text among a node's UI outputs (``text: [...]``)."""

    node_id: str
    kind: str
    index: int
    text: str


class OutputValue(_Wire):
    """Anything else among a node's UI outputs (latents, 3D results, custom keys)."""

    node_id: str
    kind: str
    index: int
    value: Any


OutputItem = OutputFileItem | OutputText | OutputValue


def output_items(node_id: str, ui_output: dict[str, Any] | None) -> list[OutputItem]:
    """Walk one node's UI output (``{"images": [...], "animated": [...], "text": [...], ...}``).

    A dict with a ``filename`` becomes an :class:`OutputFileItem` (``images``, ``gifs``, ``audio``,
    ``video``, ``latents``, ... alike), a string an :class:`OutputText`, anything else an
    :class:`OutputValue`. ``animated`` annotates the files of the same output instead of being an item.
    """
    if not ui_output:
        return []
    animated_flags = ui_output.get("animated")
    animated = bool(animated_flags) and any(bool(flag) for flag in animated_flags or ())
    items: list[OutputItem] = []
    for kind, values in ui_output.items():
        if kind == "animated":
            continue
        for index, value in enumerate(values if isinstance(values, list) else [values]):
            if isinstance(value, dict) and isinstance(value.get("filename"), str):
                items.append(
                    OutputFileItem(
                        node_id=node_id,
                        kind=kind,
                        index=index,
                        file=OutputFile.model_validate(value),
                        animated=animated,
                    )
                )
            elif isinstance(value, str):
                items.append(OutputText(node_id=node_id, kind=kind, index=index, text=value))
            else:
                items.append(OutputValue(node_id=node_id, kind=kind, index=index, value=value))
    return items


# --- POST /prompt -------------------------------------------------------------------------------


class PromptRequest(_Wire):
    """The body of ``POST /prompt``; unset optional fields are left out of the JSON."""

    prompt: dict[str, Any]
    client_id: str | None = None
    prompt_id: str | None = None
    number: float | None = None
    front: bool | None = None
    extra_data: dict[str, Any] | None = None
    partial_execution_targets: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        """The request body; optional fields left as None are not sent (unlike :meth:`to_wire`)."""
        body: dict[str, Any] = self.model_dump(mode="json", exclude_none=True)
        return body


class ErrorDetail(_Wire):
    type: str
    message: str = ""
    details: str = ""
    extra_info: dict[str, Any] = {}


class NodeError(_Wire):
    errors: list[ErrorDetail]
    dependent_outputs: list[str] = []
    class_type: str = ""


class PromptAccepted(_Wire):
    """200 from ``POST /prompt``. Non-empty ``node_errors`` means some outputs were dropped: ``partial``."""

    prompt_id: str
    number: int | float
    node_errors: dict[str, NodeError] = {}

    @property
    def partial(self) -> bool:
        return bool(self.node_errors)


class ValidationErrorBody(_Wire):
    """400 from ``POST /prompt``."""

    error: ErrorDetail
    node_errors: dict[str, NodeError] = {}


class PromptInfo(_Wire):
    """``GET /prompt``."""

    exec_info: ExecInfo


# --- /queue, /history ---------------------------------------------------------------------------


class QueueItem(_Wire):
    """One queued prompt; on the wire the array ``[number, prompt_id, prompt, extra_data, outputs_to_execute]``.

    Elements past the fifth (newer servers keep one internally) are kept in ``rest``.
    """

    number: int | float
    prompt_id: str
    prompt: dict[str, Any] = {}
    extra_data: dict[str, Any] = {}
    outputs_to_execute: list[str] = []
    rest: list[Any] = []

    @model_validator(mode="before")
    @classmethod
    def _from_array(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            if len(value) < 2:
                raise ValueError(f"a queue item array needs at least [number, prompt_id], got {value!r}")
            names = ("number", "prompt_id", "prompt", "extra_data", "outputs_to_execute")
            fields: dict[str, Any] = dict(zip(names, value, strict=False))
            fields["rest"] = list(value[len(names) :])
            return fields
        return value

    @model_serializer(mode="wrap")
    def _to_array(self, handler: SerializerFunctionWrapHandler) -> list[Any]:
        fields = handler(self)
        return [
            fields["number"],
            fields["prompt_id"],
            fields.get("prompt", {}),
            fields.get("extra_data", {}),
            fields.get("outputs_to_execute", []),
            *fields.get("rest", []),
        ]

    @property
    def client_id(self) -> str | None:
        value = self.extra_data.get("client_id")
        return value if isinstance(value, str) else None


class QueueState(_Wire):
    """``GET /queue``; pending is the server's raw heap order, not sorted."""

    queue_running: list[QueueItem] = []
    queue_pending: list[QueueItem] = []

    def running_ids(self) -> list[str]:
        return [item.prompt_id for item in self.queue_running]

    def pending_ids(self) -> list[str]:
        return [item.prompt_id for item in sorted(self.queue_pending, key=lambda item: item.number)]


class HistoryStatusInfo(_Wire):
    status_str: HistoryStatus | str
    completed: bool
    messages: list[tuple[str, dict[str, Any]]] = []


class NodeMeta(_Wire):
    node_id: str | None = None
    display_node: str | None = None
    parent_node: str | None = None
    real_node_id: str | None = None


class HistoryEntry(_Wire):
    """One prompt in ``GET /history``."""

    prompt: QueueItem
    outputs: dict[str, dict[str, Any]] = {}
    status: HistoryStatusInfo | None = None
    meta: dict[str, NodeMeta] = {}

    @property
    def succeeded(self) -> bool:
        return self.status is not None and self.status.status_str == HistoryStatus.SUCCESS

    def output_items(self) -> list[OutputItem]:
        """Every output item of every node, in the order the server listed them."""
        return [item for node_id, ui in self.outputs.items() for item in output_items(node_id, ui)]

    def output_files(self) -> list[OutputFileItem]:
        """The file items among :meth:`output_items` (what ``GET /view`` can fetch)."""
        return [item for item in self.output_items() if isinstance(item, OutputFileItem)]


# --- uploads, system, object_info ---------------------------------------------------------------


class UploadedFile(_Wire):
    """``POST /upload/image`` and ``/upload/mask``: where the file ended up (maybe renamed)."""

    name: str
    subfolder: str = ""
    type: FolderType | str = FolderType.INPUT

    def as_ref(self) -> OutputFile:
        return OutputFile(filename=self.name, subfolder=self.subfolder, type=self.type)

    @property
    def input_value(self) -> str:
        """The value a LoadImage-style input takes for this file (``subfolder/name``)."""
        return f"{self.subfolder}/{self.name}" if self.subfolder else self.name


class SystemInfo(_Wire):
    os: str = ""
    ram_total: int | None = None
    ram_free: int | None = None
    comfyui_version: str | None = None
    python_version: str | None = None
    pytorch_version: str | None = None
    embedded_python: bool | None = None
    argv: list[str] = []


class DeviceInfo(_Wire):
    name: str
    type: str
    index: int | None = None
    vram_total: int | None = None
    vram_free: int | None = None
    torch_vram_total: int | None = None
    torch_vram_free: int | None = None


class SystemStats(_Wire):
    """``GET /system_stats``."""

    system: SystemInfo
    devices: list[DeviceInfo] = []


class NodeInfo(_Wire):
    """One entry of ``GET /object_info``: a node class's inputs and outputs."""

    _omitted_when_none = frozenset({"output_tooltips", "deprecated", "experimental", "api_node"})

    input: dict[str, dict[str, Any]] = {}
    input_order: dict[str, list[str]] = {}
    output: list[str | list[Any]] = []
    output_is_list: list[bool] = []
    output_name: list[str] = []
    name: str
    display_name: str | None = None
    description: str = ""
    python_module: str = ""
    category: str = ""
    output_node: bool = False
    output_tooltips: list[str | None] | None = None
    deprecated: bool | None = None
    experimental: bool | None = None
    api_node: bool | None = None

    def input_spec(self, name: str) -> list[Any] | None:
        """The ``[TYPE_or_COMBO, {options}]`` spec of an input, from any section; None if absent."""
        for section in ("required", "optional", "hidden"):
            spec = self.input.get(section, {}).get(name)
            if spec is not None:
                return list(spec) if isinstance(spec, list | tuple) else [spec]
        return None


# --- /api/jobs (newer servers) ------------------------------------------------------------------


class Job(_Wire):
    id: str
    status: JobStatus | str
    priority: int | float | None = None
    create_time: int | float | None = None
    execution_start_time: int | float | None = None
    execution_end_time: int | float | None = None
    execution_error: Any = None
    outputs_count: int | None = None
    preview_output: dict[str, Any] | None = None
    workflow_id: str | None = None


class Pagination(_Wire):
    offset: int = 0
    limit: int | None = None
    total: int = 0
    has_more: bool = False


class JobsPage(_Wire):
    """``GET /api/jobs``."""

    jobs: list[Job]
    pagination: Pagination = Pagination()
