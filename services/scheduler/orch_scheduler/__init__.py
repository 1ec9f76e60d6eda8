"""The scheduler: DuckDB event log (sole writer), the pure fold, placement, retries and the RPC server."""

from orch_scheduler.domain.fold import apply
from orch_scheduler.domain.state import SchedulerState
from orch_scheduler.eventlog import EventLog, LogRecord
from orch_scheduler.replay import replay
from orch_scheduler.service import Scheduler
from orch_scheduler.settings import SchedulerSettings

__all__ = ["EventLog", "LogRecord", "Scheduler", "SchedulerSettings", "SchedulerState", "apply", "replay"]
