"""The backend agent's errors.

::

    AgentError
    ├── ConfigurationError    a setting or argument that cannot work (bad backend id, bad URL)
    ├── CommandError          a command that cannot be carried out as given
    │   ├── InputBindingError     an input binding names a node or input the prompt does not have
    │   └── InputFetchError       an input artifact is missing from the Object Store or cannot be uploaded
    └── OutputStoreError      an output could not be fetched from ComfyUI or stored in the Object Store

ComfyUI failures arrive as `orch_common.comfy.errors.ComfyError` and are translated into
`JobAttemptFailed` reasons where they happen; they are not wrapped here.
"""

from __future__ import annotations

__all__ = [
    "AgentError",
    "CommandError",
    "ConfigurationError",
    "InputBindingError",
    "InputFetchError",
    "OutputStoreError",
]


class AgentError(Exception):
    """Base of every error raised by the backend agent."""


class ConfigurationError(AgentError):
    """A setting or argument that cannot work."""


class CommandError(AgentError):
    """A command that cannot be carried out as given."""


class InputBindingError(CommandError):
    """An input binding names a node or input that the prompt does not have."""


class InputFetchError(CommandError):
    """An input artifact could not be read from the Object Store or uploaded to ComfyUI."""


class OutputStoreError(AgentError):
    """An output could not be fetched from ComfyUI or stored in the Object Store."""
