"""The scheduler's errors, one small tree.

::

    SchedulerError
    ├── EventLogError          the DuckDB event log cannot be opened, read or written
    ├── PoisonMessageError     a stream message is not an event we can log (bad JSON, no id): termed, never retried
    └── RpcRequestError        an RPC request is malformed or names something unknown (carries a stable `code`)
        └── NotFoundError      the job / project / version asked for does not exist (code `not_found`)
"""

from __future__ import annotations

__all__ = ["EventLogError", "NotFoundError", "PoisonMessageError", "RpcRequestError", "SchedulerError"]


class SchedulerError(Exception):
    """Base of every error the scheduler raises on purpose."""


class EventLogError(SchedulerError):
    """The DuckDB event log cannot be opened, read or written."""


class PoisonMessageError(SchedulerError):
    """A stream message that cannot be logged (unparseable, or without an event id)."""


class RpcRequestError(SchedulerError):
    """A bad RPC request; `code` is the stable error code put in the reply."""

    code = "bad_request"


class NotFoundError(RpcRequestError):
    code = "not_found"
