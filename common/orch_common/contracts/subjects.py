"""Every NATS name the orchestrator uses: subjects, streams, consumers and buckets, in one place.

Subjects are hierarchical, namespace first and ids last, and versioned:

    orch.v1.evt.job.<job_id>.<event>          durable job events          (stream ORCH_EVENTS)
    orch.v1.evt.backend.<backend_id>.<event>  durable backend events      (stream ORCH_EVENTS)
    orch.v1.evt.project.<project_id>.<event>  durable project events      (stream ORCH_EVENTS)
    orch.v1.evt.run.<run_id>.<event>          durable project-run events  (stream ORCH_EVENTS)
    orch.v1.cmd.backend.<backend_id>.<verb>   commands to one agent       (stream ORCH_COMMANDS)
    orch.v1.live.job.<job_id>.<what>          ephemeral progress/previews (core NATS, not stored)
    orch.v1.live.backend.<backend_id>.metrics ephemeral GPU/queue metrics (core NATS, not stored)
    orch.v1.rpc.scheduler.<verb>              request/reply to the scheduler

Nothing else in the code base builds a subject string: use the functions below.
"""

from __future__ import annotations

import re
from enum import StrEnum

__all__ = [
    "ARTIFACTS_BUCKET",
    "BACKENDS_BUCKET",
    "BACKEND_HEARTBEAT_TTL_S",
    "COMMANDS_STREAM",
    "EVENTS_STREAM",
    "NAMESPACE",
    "SCHEDULER_CONSUMER",
    "Verb",
    "agent_consumer",
    "all_backend_commands",
    "all_events",
    "all_live",
    "backend_commands",
    "backend_event",
    "check_token",
    "command",
    "every_job_event",
    "job_event",
    "live_backend_metrics",
    "live_job",
    "project_event",
    "rpc",
    "run_event",
]

NAMESPACE = "orch.v1"

EVENTS_STREAM = "ORCH_EVENTS"
"""Every durable event (jobs, backends, projects, runs). Limits retention, deduplicated on `Nats-Msg-Id`."""

COMMANDS_STREAM = "ORCH_COMMANDS"
"""Commands to agents. Work-queue retention: a command is gone once its agent acks it."""

SCHEDULER_CONSUMER = "scheduler"
"""The scheduler's durable pull consumer on EVENTS_STREAM."""

BACKENDS_BUCKET = "orch_backends"
"""KV bucket: one key per live backend (its registration), kept alive by the agent's heartbeat."""

BACKEND_HEARTBEAT_TTL_S = 6.0
"""A backend whose KV entry is not refreshed within this many seconds is considered lost."""

ARTIFACTS_BUCKET = "orch_artifacts"
"""Object Store bucket holding every output, keyed `<job_id>/<attempt>/<node_id>/<index>-<filename>`."""

DUPLICATE_WINDOW_S = 2 * 60 * 60
"""How long JetStream remembers a `Nats-Msg-Id` for deduplication."""

_TOKEN = re.compile(r"^[A-Za-z0-9_\-:]+$")


class Verb(StrEnum):
    """Command verbs sent to an agent."""

    RUN = "run"
    CANCEL = "cancel"
    UPLOAD = "upload"


def check_token(value: str) -> str:
    """Return `value` if it is safe as one subject token (no dots, spaces or wildcards), else raise ValueError."""
    if not _TOKEN.match(value):
        raise ValueError(f"{value!r} cannot be used in a NATS subject (allowed: letters, digits, _ - :)")
    return value


def job_event(job_id: str, event: str) -> str:
    return f"{NAMESPACE}.evt.job.{check_token(job_id)}.{check_token(event)}"


def backend_event(backend_id: str, event: str) -> str:
    return f"{NAMESPACE}.evt.backend.{check_token(backend_id)}.{check_token(event)}"


def project_event(project_id: str, event: str) -> str:
    return f"{NAMESPACE}.evt.project.{check_token(project_id)}.{check_token(event)}"


def run_event(run_id: str, event: str) -> str:
    return f"{NAMESPACE}.evt.run.{check_token(run_id)}.{check_token(event)}"


def all_events() -> str:
    """The filter covering every durable event."""
    return f"{NAMESPACE}.evt.>"


def every_job_event(event: str) -> str:
    """The filter covering one kind of job event for every job, e.g. `every_job_event("succeeded")`."""
    return f"{NAMESPACE}.evt.job.*.{check_token(event)}"


def command(backend_id: str, verb: Verb) -> str:
    return f"{NAMESPACE}.cmd.backend.{check_token(backend_id)}.{verb.value}"


def backend_commands(backend_id: str) -> str:
    """The filter of one agent's durable consumer."""
    return f"{NAMESPACE}.cmd.backend.{check_token(backend_id)}.>"


def all_backend_commands() -> str:
    return f"{NAMESPACE}.cmd.>"


def agent_consumer(backend_id: str) -> str:
    """Durable consumer name of the agent for `backend_id` on COMMANDS_STREAM."""
    return f"agent-{check_token(backend_id).replace(':', '-')}"


def live_job(job_id: str, what: str) -> str:
    """Ephemeral per-job subject: `progress`, `preview`, `state`."""
    return f"{NAMESPACE}.live.job.{check_token(job_id)}.{check_token(what)}"


def live_backend_metrics(backend_id: str) -> str:
    return f"{NAMESPACE}.live.backend.{check_token(backend_id)}.metrics"


def all_live() -> str:
    return f"{NAMESPACE}.live.>"


def rpc(verb: str) -> str:
    """Request/reply subject served by the scheduler, e.g. `rpc("jobs.get")`."""
    return f"{NAMESPACE}.rpc.scheduler.{verb}"
