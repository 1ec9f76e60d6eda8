"""From ComfyUI's websocket stream to our events: a pure translation, one tracker per attempt.

The agent feeds every message of its one socket to a :class:`Router`; the router hands it to the
:class:`AttemptTracker` of the prompt it concerns, which answers with *intents*, in order:

- :class:`Live` — an ephemeral `LiveProgress` / `LivePreview`, published at once on core NATS;
- :class:`Publish` — a durable event (node executed, a progress checkpoint, a failure, a cancellation);
- :class:`StoreOutputs` — copy a node's UI outputs into the Object Store, then publish `JobOutputStored`;
- :class:`Finish` — the prompt is over: decide (with `/history` for any output we may have missed).

Durable progress is a checkpoint, not a stream (the live stream carries every tick): at most one `JobProgressed`
per `progress_interval`, the first one interval after the attempt's first progress, so a prompt that ends within
it needs none; a stepped node's final value is always kept (when another node takes over, and at the end), and
so is the value an attempt stopped at when it fails or is cancelled.

Nothing here does I/O or reads a clock: `now` is passed in, so recorded traces translate the same way every
time. The agent carries out durable intents of one attempt strictly in order, so `JobSucceeded` (decided by
`Finish`) always comes after every `JobOutputStored`.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from orch_common.comfy.binary import Frame, PreviewImage, PreviewImageWithMetadata, TextFrame
from orch_common.comfy.wire import (
    ExecutedMessage,
    ExecutingMessage,
    ExecutionCachedMessage,
    ExecutionErrorMessage,
    ExecutionInterruptedMessage,
    ExecutionStartMessage,
    ExecutionSuccessMessage,
    NodeState,
    ProgressMessage,
    ProgressStateMessage,
    StatusMessage,
    UnknownMessage,
    WsMessage,
)
from orch_common.contracts import subjects
from orch_common.contracts.events import (
    EventBase,
    FailureReason,
    JobAttemptFailed,
    JobCancelled,
    JobNodeExecuted,
    JobProgressed,
)
from orch_common.contracts.live import LivePreview, LiveProgress

__all__ = [
    "AttemptRef",
    "AttemptTracker",
    "Finish",
    "Intent",
    "Live",
    "Publish",
    "Router",
    "StoreOutputs",
]

MAX_TRACEBACK_LINES = 40


@dataclass(frozen=True)
class AttemptRef:
    """One attempt of one job, running on this backend as `prompt_id`."""

    job_id: str
    attempt: int
    prompt_id: str
    backend_id: str


@dataclass(frozen=True)
class Live:
    subject: str
    message: LiveProgress | LivePreview


@dataclass(frozen=True)
class Publish:
    event: EventBase


@dataclass(frozen=True)
class StoreOutputs:
    node_id: str
    output: dict[str, Any]


@dataclass(frozen=True)
class Finish:
    """The prompt ended (`executing` null); `success_seen` tells whether `execution_success` came first."""

    success_seen: bool


Intent = Live | Publish | StoreOutputs | Finish


@dataclass
class AttemptTracker:
    """The state of one attempt's translation."""

    ref: AttemptRef
    previews: bool = True
    progress_interval: float = 0.5
    preview_interval: float = 0.25
    cancelled: bool = False
    hung: bool = False
    done: bool = False
    started: bool = False
    success_seen: bool = False
    last_activity: float | None = None
    node_id: str | None = None
    value: float = 0.0
    max: float = 1.0
    nodes: dict[str, Any] = field(default_factory=dict)
    next_seq: int = 0
    """Sequence number of the next `JobProgressed` (an adopted attempt starts high: ids must not repeat)."""
    _last_progress_at: float | None = None
    _progress_pending: bool = False
    _last_preview_at: float | None = None

    # --- feeding -----------------------------------------------------------------------------

    def feed(self, message: WsMessage | Frame | UnknownMessage, now: float) -> list[Intent]:
        """The intents for one message of this attempt's prompt (none once the attempt is over)."""
        if self.done:
            return []
        self.last_activity = now
        if isinstance(message, ExecutionStartMessage):
            self.started = True
            return []
        if isinstance(message, ExecutionCachedMessage):
            self.started = True
            return [Publish(self._node_executed(n, cached=True)) for n in message.data.nodes]
        if isinstance(message, ExecutingMessage):
            if message.data.node is None:
                return self._end()
            self.started = True
            if message.data.node == self.node_id:
                return self._progress(now)
            return [*self._move(message.data.node, 0.0, 1.0), *self._progress(now)]
        if isinstance(message, ProgressMessage):
            self.started = True
            node = message.data.node or self.node_id
            return [*self._move(node, float(message.data.value), float(message.data.max)), *self._progress(now)]
        if isinstance(message, ProgressStateMessage):
            self.started = True
            self.nodes = {node_id: p.to_wire() for node_id, p in message.data.nodes.items()}
            running = [p for p in message.data.nodes.values() if p.state == NodeState.RUNNING]
            if not running:
                return self._progress(now)
            current = running[-1]
            return [*self._move(current.node_id, current.value, current.max), *self._progress(now)]
        if isinstance(message, ExecutedMessage):
            node = message.data.node
            intents: list[Intent] = [Publish(self._node_executed(node))]
            if message.data.output:
                intents.append(StoreOutputs(node, dict(message.data.output)))
            return intents
        if isinstance(message, ExecutionSuccessMessage):
            self.success_seen = True
            return []
        if isinstance(message, ExecutionErrorMessage):
            data = message.data
            self.done = True
            return [
                *self._flush(),
                Publish(
                    self.failed(
                        FailureReason.NODE_ERROR,
                        data.exception_message.strip() or data.exception_type or "node failed",
                        node_id=data.node_id,
                        node_type=data.node_type,
                        details={
                            "exception_type": data.exception_type,
                            "traceback": data.traceback[-MAX_TRACEBACK_LINES:],
                            "executed": data.executed,
                        },
                    )
                ),
            ]
        if isinstance(message, ExecutionInterruptedMessage):
            self.done = True
            if self.cancelled:
                return [*self._flush(), Publish(self.cancelled_event())]
            if self.hung:
                return self._flush()
            stopped = message.data
            where = f" at node {stopped.node_id} ({stopped.node_type})" if stopped.node_id else ""
            return [
                *self._flush(),
                Publish(
                    self.failed(
                        FailureReason.INTERRUPTED,
                        f"the prompt was interrupted on the server{where}, not by the orchestrator",
                        node_id=stopped.node_id,
                        node_type=stopped.node_type,
                        details={"executed": stopped.executed},
                    )
                ),
            ]
        if isinstance(message, PreviewImage | PreviewImageWithMetadata):
            return self._preview(message, now)
        if isinstance(message, TextFrame):
            return []
        return []

    def tick(self, now: float) -> list[Intent]:
        """Called periodically: publishes held-back progress once its interval has passed."""
        if self.done or not self._progress_pending:
            return []
        if self._last_progress_at is not None and now - self._last_progress_at < self.progress_interval:
            return []
        self._last_progress_at = now
        return self._flush()

    # --- decisions made outside the stream ---------------------------------------------------

    def close(self) -> None:
        """No further intents: the attempt's outcome was decided elsewhere."""
        self.done = True

    def failed(
        self,
        reason: FailureReason,
        message: str,
        *,
        node_id: str | None = None,
        node_type: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> JobAttemptFailed:
        return JobAttemptFailed(
            job_id=self.ref.job_id,
            attempt=self.ref.attempt,
            backend_id=self.ref.backend_id,
            reason=reason,
            message=message,
            node_id=node_id,
            node_type=node_type,
            details={"prompt_id": self.ref.prompt_id, **(details or {})},
        )

    def cancelled_event(self) -> JobCancelled:
        return JobCancelled(job_id=self.ref.job_id, attempt=self.ref.attempt)

    # --- internals ---------------------------------------------------------------------------

    def _node_executed(self, node_id: str, *, cached: bool = False) -> JobNodeExecuted:
        return JobNodeExecuted(job_id=self.ref.job_id, attempt=self.ref.attempt, node_id=node_id, cached=cached)

    def _end(self) -> list[Intent]:
        self.done = True
        if self.cancelled:
            return [*self._flush(), Publish(self.cancelled_event())]
        if self.hung:
            return []
        return [*self._flush(stepped_only=True), Finish(success_seen=self.success_seen)]

    def _move(self, node_id: str | None, value: float, max_: float) -> list[Intent]:
        """Set the current progress; a stepped node's last value is kept durable when another node takes over."""
        intents = self._flush() if node_id != self.node_id and self.max > 1 else []
        self.node_id, self.value, self.max = node_id, value, max_
        return intents

    def _progress(self, now: float) -> list[Intent]:
        intents: list[Intent] = [
            Live(
                subjects.live_job(self.ref.job_id, "progress"),
                LiveProgress(
                    job_id=self.ref.job_id,
                    attempt=self.ref.attempt,
                    backend_id=self.ref.backend_id,
                    prompt_id=self.ref.prompt_id,
                    node_id=self.node_id,
                    value=self.value,
                    max=self.max,
                    nodes=self.nodes,
                    sent_at=now,
                ),
            )
        ]
        if self.node_id is None:
            return intents
        self._progress_pending = True
        if self._last_progress_at is None:
            self._last_progress_at = now  # the interval starts with the first progress
        elif now - self._last_progress_at >= self.progress_interval:
            self._last_progress_at = now
            intents.extend(self._flush())
        return intents

    def _flush(self, *, stepped_only: bool = False) -> list[Intent]:
        """The held-back durable progress, if any (with `stepped_only`, only a stepped node's value)."""
        if not self._progress_pending or self.node_id is None:
            return []
        if stepped_only and self.max <= 1:
            return []
        self._progress_pending = False
        event = JobProgressed(
            job_id=self.ref.job_id,
            attempt=self.ref.attempt,
            seq=self.next_seq,
            node_id=self.node_id,
            value=self.value,
            max=self.max,
        )
        self.next_seq += 1
        return [Publish(event)]

    def _preview(self, frame: PreviewImage | PreviewImageWithMetadata, now: float) -> list[Intent]:
        if not self.previews:
            return []
        if self._last_preview_at is not None and now - self._last_preview_at < self.preview_interval:
            return []
        self._last_preview_at = now
        if isinstance(frame, PreviewImageWithMetadata):
            node_id: str | None = frame.metadata.node_id
            content_type = frame.metadata.image_type
        else:
            node_id = self.node_id
            content_type = frame.format.mime_type
        return [
            Live(
                subjects.live_job(self.ref.job_id, "preview"),
                LivePreview(
                    job_id=self.ref.job_id,
                    attempt=self.ref.attempt,
                    backend_id=self.ref.backend_id,
                    node_id=node_id,
                    content_type=content_type,
                    data_b64=base64.b64encode(frame.data).decode(),
                ),
            )
        ]


@dataclass
class Router:
    """Hands each message of the socket to the tracker of the prompt it concerns.

    Messages without a prompt id (type-1 previews, text frames, the `executing` replayed on reconnect) go to
    the prompt that is running now, as far as this socket has seen.
    """

    trackers: dict[str, AttemptTracker] = field(default_factory=dict)
    running_prompt_id: str | None = None
    queue_remaining: int | None = None

    def add(self, tracker: AttemptTracker) -> None:
        self.trackers[tracker.ref.prompt_id] = tracker

    def remove(self, prompt_id: str) -> AttemptTracker | None:
        if self.running_prompt_id == prompt_id:
            self.running_prompt_id = None
        return self.trackers.pop(prompt_id, None)

    def prompt_of(self, message: WsMessage | Frame | UnknownMessage) -> str | None:
        if isinstance(message, PreviewImageWithMetadata):
            return message.metadata.prompt_id
        data = getattr(message, "data", None)
        prompt_id = getattr(data, "prompt_id", None)
        if isinstance(prompt_id, str):
            return prompt_id
        return self.running_prompt_id

    def feed(self, message: WsMessage | Frame | UnknownMessage, now: float) -> list[tuple[AttemptTracker, Intent]]:
        """The intents for one socket message, each with the tracker it belongs to."""
        if isinstance(message, StatusMessage):
            self.queue_remaining = message.data.queue_remaining
            return []
        prompt_id = self.prompt_of(message)
        if isinstance(message, ExecutionStartMessage):
            self.running_prompt_id = prompt_id
        elif isinstance(message, ExecutingMessage) and prompt_id:
            if message.data.node is not None:
                self.running_prompt_id = prompt_id
            elif prompt_id == self.running_prompt_id:
                self.running_prompt_id = None
        tracker = self.trackers.get(prompt_id) if prompt_id else None
        if tracker is None:
            return []
        return [(tracker, intent) for intent in tracker.feed(message, now)]

    def tick(self, now: float) -> list[tuple[AttemptTracker, Intent]]:
        return [(t, intent) for t in list(self.trackers.values()) for intent in t.tick(now)]
