"""Durable events: frozen, past-tense, versioned facts published to the ORCH_EVENTS stream.

Every event carries `type` (the discriminator), `schema_version` and `occurred_at`, and has a deterministic
`event_id` used as the JetStream `Nats-Msg-Id`: publishing the same fact twice is deduplicated by the server,
and appending it twice to the event log is a no-op.

Job lifecycle (exactly one terminal event per job is folded: succeeded, failed or cancelled):

    JobSubmitted → JobScheduled(attempt n) → JobStarted → JobProgressed* / JobNodeExecuted* / JobOutputStored*
        → JobSucceeded
        → JobAttemptFailed → JobRetried(attempt n+1) → JobScheduled(attempt n+1) → …
                           → JobFailed                       (no attempts left, or not retryable)
    JobCancellationRequested → JobCancelled                  (at any point before a terminal event)

Backends: BackendRegistered (capabilities) → BackendLost; BackendDisabled / BackendEnabled by the user.
Decisions (which backend, which attempt, which prompt id) are events, so a replay never re-decides.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from orch_common.contracts import subjects

__all__ = [
    "TERMINAL_EVENT_TYPES",
    "ArtifactKind",
    "BackendCapabilities",
    "BackendDisabled",
    "BackendEnabled",
    "BackendEvent",
    "BackendLost",
    "BackendRegistered",
    "Event",
    "EventBase",
    "FailureReason",
    "InputBinding",
    "JobAttemptFailed",
    "JobCancellationRequested",
    "JobCancelled",
    "JobEvent",
    "JobFailed",
    "JobNodeExecuted",
    "JobOutputStored",
    "JobProgressed",
    "JobRetried",
    "JobScheduled",
    "JobStarted",
    "JobSubmitted",
    "JobSucceeded",
    "RetryPolicy",
    "event_subject",
    "parse_event",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (used only where an event is created, never in a fold)."""
    return datetime.now(UTC)


class ArtifactKind(StrEnum):
    IMAGE = "image"
    MASK = "mask"
    VIDEO = "video"
    AUDIO = "audio"
    TEXT = "text"
    LATENT = "latent"
    FILE = "file"


class FailureReason(StrEnum):
    """Why an attempt failed. Only some reasons are worth a retry elsewhere."""

    VALIDATION = "validation"  # ComfyUI rejected the prompt (400): retrying will not help
    NODE_ERROR = "node_error"  # a node raised while executing: reported with ComfyUI's message and node
    BACKEND_LOST = "backend_lost"  # agent heartbeat gone, ComfyUI unreachable or restarted: retry elsewhere
    PROMPT_LOST = "prompt_lost"  # ComfyUI no longer knows the prompt (restart with an empty queue)
    HUNG = "hung"  # no progress for twice the expected time
    INTERRUPTED = "interrupted"  # interrupted on the server without our cancel
    UPLOAD_FAILED = "upload_failed"
    NO_CAPABLE_BACKEND = "no_capable_backend"
    INTERNAL = "internal"

    @property
    def retryable(self) -> bool:
        return self in _RETRYABLE


_RETRYABLE = frozenset(
    {
        FailureReason.BACKEND_LOST,
        FailureReason.PROMPT_LOST,
        FailureReason.HUNG,
        FailureReason.INTERRUPTED,
        FailureReason.UPLOAD_FAILED,
        FailureReason.INTERNAL,
    }
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EventBase(_Frozen):
    """Fields every event has. Subclasses fix `type` with a Literal and define `event_id`."""

    schema_version: int = 1
    occurred_at: datetime = Field(default_factory=utcnow)

    @property
    def event_id(self) -> str:  # pragma: no cover - every concrete event overrides it
        raise NotImplementedError

    @property
    def subject(self) -> str:  # pragma: no cover - every concrete event overrides it
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------------- jobs


class RetryPolicy(_Frozen):
    """Per-job retry policy: at most `max_attempts` attempts, waiting `backoff_s * 2**(attempt-1)` between them."""

    max_attempts: int = Field(default=3, ge=1, le=100)
    backoff_s: float = Field(default=0.0, ge=0.0, le=3600.0)
    max_backoff_s: float = Field(default=60.0, ge=0.0)

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before `attempt` (2, 3, …)."""
        if attempt <= 1 or self.backoff_s == 0:
            return 0.0
        return float(min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 2)))


class InputBinding(_Frozen):
    """An upstream artifact to upload to the chosen server and patch into the prompt before it runs."""

    artifact_id: str
    node_id: str  # the node of this job's prompt to patch
    input_name: str  # e.g. "image" of a LoadImage
    filename: str  # upload name on the target server (content-addressed, so a file already there is reused)
    kind: ArtifactKind = ArtifactKind.IMAGE
    as_text: bool = False  # patch the artifact's UTF-8 text into the input instead of uploading a file


class _JobEvent(EventBase):
    job_id: str

    def _id(self, *parts: object) -> str:
        return ":".join([self.job_id, *(str(p) for p in parts)])

    @property
    def subject(self) -> str:
        return subjects.job_event(self.job_id, self.type.split(".", 1)[1])  # type: ignore[attr-defined]


class JobSubmitted(_JobEvent):
    """A job was accepted: its API-format prompt is stored here, so nothing accepted is ever lost."""

    type: Literal["job.submitted"] = "job.submitted"
    workflow: dict[str, Any]
    ui_workflow: dict[str, Any] | None = None
    pinned_backend: str | None = None
    required_classes: list[str] = Field(default_factory=list)
    required_models: dict[str, list[str]] = Field(default_factory=dict)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    priority: int = 0
    inputs: list[InputBinding] = Field(default_factory=list)
    project_id: str | None = None
    run_id: str | None = None
    graph_node_id: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    @property
    def event_id(self) -> str:
        return self._id("submitted")


class JobScheduled(_JobEvent):
    """The scheduler placed attempt `attempt` on `backend_id` under ComfyUI prompt id `prompt_id`."""

    type: Literal["job.scheduled"] = "job.scheduled"
    attempt: int = Field(ge=1)
    backend_id: str
    prompt_id: str
    reason: str = ""

    @property
    def event_id(self) -> str:
        return self._id(self.attempt, "scheduled")


class JobStarted(_JobEvent):
    """ComfyUI accepted the prompt of this attempt (and will run it when its queue reaches it)."""

    type: Literal["job.started"] = "job.started"
    attempt: int = Field(ge=1)
    backend_id: str
    prompt_id: str
    partial: bool = False  # a 200 carrying node_errors: some outputs will not be produced
    node_errors: dict[str, Any] = Field(default_factory=dict)

    @property
    def event_id(self) -> str:
        return self._id(self.attempt, "started")


class JobProgressed(_JobEvent):
    """Coalesced progress of a node (the full-rate stream goes to the live subjects, not the log)."""

    type: Literal["job.progressed"] = "job.progressed"
    attempt: int = Field(ge=1)
    seq: int = Field(ge=0)
    node_id: str
    value: float
    max: float

    @property
    def event_id(self) -> str:
        return self._id(self.attempt, "progress", self.seq)


class JobNodeExecuted(_JobEvent):
    type: Literal["job.node_executed"] = "job.node_executed"
    attempt: int = Field(ge=1)
    node_id: str
    cached: bool = False

    @property
    def event_id(self) -> str:
        return self._id(self.attempt, "node", self.node_id)


class JobOutputStored(_JobEvent):
    """An output was copied into the Object Store under `artifact_id`."""

    type: Literal["job.output_stored"] = "job.output_stored"
    attempt: int = Field(ge=1)
    node_id: str
    index: int = Field(ge=0)
    artifact_id: str
    filename: str
    subfolder: str = ""
    folder_type: str = "output"
    kind: ArtifactKind
    content_type: str
    size: int = Field(ge=0)
    sha256: str

    @property
    def event_id(self) -> str:
        return self._id(self.attempt, "output", self.node_id, self.index)


class JobSucceeded(_JobEvent):
    type: Literal["job.succeeded"] = "job.succeeded"
    attempt: int = Field(ge=1)
    backend_id: str

    @property
    def event_id(self) -> str:
        return self._id(self.attempt, "succeeded")


class JobAttemptFailed(_JobEvent):
    """One attempt failed; the scheduler answers with JobRetried or JobFailed."""

    type: Literal["job.attempt_failed"] = "job.attempt_failed"
    attempt: int = Field(ge=1)
    backend_id: str | None = None
    reason: FailureReason
    message: str
    node_id: str | None = None
    node_type: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def event_id(self) -> str:
        return self._id(self.attempt, "attempt_failed")


class JobRetried(_JobEvent):
    """The scheduler decided to run the job again as `attempt`, not before `not_before`."""

    type: Literal["job.retried"] = "job.retried"
    attempt: int = Field(ge=2)
    reason: FailureReason
    not_before: datetime | None = None

    @property
    def event_id(self) -> str:
        return self._id(self.attempt, "retried")


class JobFailed(_JobEvent):
    """Terminal: the job failed for good."""

    type: Literal["job.failed"] = "job.failed"
    attempt: int = Field(ge=0)
    reason: FailureReason
    message: str
    node_id: str | None = None
    node_type: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def event_id(self) -> str:
        return self._id("failed")


class JobCancellationRequested(_JobEvent):
    type: Literal["job.cancellation_requested"] = "job.cancellation_requested"
    requested_by: str = "user"

    @property
    def event_id(self) -> str:
        return self._id("cancellation_requested")


class JobCancelled(_JobEvent):
    """Terminal: the job was cancelled (its prompt interrupted or deleted from the queue, if it had one)."""

    type: Literal["job.cancelled"] = "job.cancelled"
    attempt: int = Field(ge=0)

    @property
    def event_id(self) -> str:
        return self._id("cancelled")


# ------------------------------------------------------------------------------------------------ backends


class BackendCapabilities(_Frozen):
    """What a backend can run, read from its /object_info and /system_stats."""

    node_classes: list[str]
    models: dict[str, list[str]] = Field(default_factory=dict)  # folder → files (from COMBO lists)
    object_info_hash: str
    comfyui_version: str | None = None
    ram_total: int | None = None
    vram_total: int | None = None
    gpu_name: str | None = None
    device_type: str | None = None


class _BackendEvent(EventBase):
    backend_id: str

    @property
    def subject(self) -> str:
        return subjects.backend_event(self.backend_id, self.type.split(".", 1)[1])  # type: ignore[attr-defined]


class BackendRegistered(_BackendEvent):
    """An agent came up (or its server's capabilities changed)."""

    type: Literal["backend.registered"] = "backend.registered"
    comfy_url: str
    agent_instance: str  # unique per agent process start
    capabilities: BackendCapabilities

    @property
    def event_id(self) -> str:
        return f"{self.backend_id}:registered:{self.agent_instance}:{self.capabilities.object_info_hash[:16]}"


class BackendLost(_BackendEvent):
    """The backend stopped answering: heartbeat gone, ComfyUI down, or restarted with an empty queue."""

    type: Literal["backend.lost"] = "backend.lost"
    agent_instance: str
    reason: str

    @property
    def event_id(self) -> str:
        return f"{self.backend_id}:lost:{self.agent_instance}"


class BackendDisabled(_BackendEvent):
    type: Literal["backend.disabled"] = "backend.disabled"
    nonce: str

    @property
    def event_id(self) -> str:
        return f"{self.backend_id}:disabled:{self.nonce}"


class BackendEnabled(_BackendEvent):
    type: Literal["backend.enabled"] = "backend.enabled"
    nonce: str

    @property
    def event_id(self) -> str:
        return f"{self.backend_id}:enabled:{self.nonce}"


JobEvent = (
    JobSubmitted
    | JobScheduled
    | JobStarted
    | JobProgressed
    | JobNodeExecuted
    | JobOutputStored
    | JobSucceeded
    | JobAttemptFailed
    | JobRetried
    | JobFailed
    | JobCancellationRequested
    | JobCancelled
)
BackendEvent = BackendRegistered | BackendLost | BackendDisabled | BackendEnabled


def _event_union() -> Any:
    # Project and run events live in their own modules (they import EventBase from here).
    from orch_common.contracts.projects import ProjectEvent
    from orch_common.contracts.runs import RunEvent

    return Annotated[JobEvent | BackendEvent | ProjectEvent | RunEvent, Field(discriminator="type")]


Event = JobEvent | BackendEvent
"""Static type of a job or backend event; `parse_event` also returns project events."""

TERMINAL_EVENT_TYPES = frozenset({"job.succeeded", "job.failed", "job.cancelled"})

_ADAPTER: TypeAdapter[Any] | None = None


def parse_event(data: bytes | str | dict[str, Any]) -> Any:
    """Parse a stored or published event (JSON bytes/str or a dict) of any kind. Raises pydantic.ValidationError.

    Returns a concrete event model (`JobSubmitted`, `BackendLost`, `ProjectSaved`, …).
    """
    validator = (_ADAPTER or _event_adapter()).validator  # the core validator: no per-call keyword handling
    if isinstance(data, dict):
        return validator.validate_python(data)
    return validator.validate_json(data)


def _event_adapter() -> TypeAdapter[Any]:
    """The adapter of the event union, built on first use (project and run events import this module)."""
    global _ADAPTER
    if _ADAPTER is None:
        _ADAPTER = TypeAdapter(_event_union())
    return _ADAPTER


def event_subject(event: EventBase) -> str:
    return event.subject
