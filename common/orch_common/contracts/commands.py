"""Commands: what the scheduler asks one agent to do, on `orch.v1.cmd.backend.<backend_id>.<verb>`.

Commands are imperative (`RunJob`, `CancelJob`) and carry a deterministic `command_id` used as the
`Nats-Msg-Id`, so a re-sent command is deduplicated. The agent acks a command after it has acted on it and
published the resulting events; a redelivered command for an attempt the agent already submitted is a no-op.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from orch_common.contracts import subjects
from orch_common.contracts.events import InputBinding

__all__ = ["CancelJob", "Command", "RunJob", "command_subject", "parse_command"]


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = 1
    backend_id: str
    job_id: str
    attempt: int = Field(ge=1)
    prompt_id: str


class RunJob(_Command):
    """Submit `workflow` (API format) to the backend's ComfyUI as `prompt_id`, uploading `inputs` first."""

    type: Literal["run"] = "run"
    workflow: dict[str, Any]
    inputs: list[InputBinding] = Field(default_factory=list)
    extra_data: dict[str, Any] = Field(default_factory=dict)
    previews: bool = True
    expected_seconds: float | None = None  # for hang detection; None when unknown

    @property
    def command_id(self) -> str:
        return f"{self.job_id}:{self.attempt}:run"


class CancelJob(_Command):
    """Interrupt `prompt_id` if it is running, or delete it from the queue; never touch other prompts."""

    type: Literal["cancel"] = "cancel"

    @property
    def command_id(self) -> str:
        return f"{self.job_id}:{self.attempt}:cancel"


Command = Annotated[RunJob | CancelJob, Field(discriminator="type")]
_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)


def parse_command(data: bytes | str) -> Command:
    return _ADAPTER.validate_json(data)


def command_subject(cmd: RunJob | CancelJob) -> str:
    verb = subjects.Verb.RUN if isinstance(cmd, RunJob) else subjects.Verb.CANCEL
    return subjects.command(cmd.backend_id, verb)
