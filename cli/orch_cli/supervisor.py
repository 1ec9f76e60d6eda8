"""A small supervisor for `orch up`: child processes with log files, restarts with backoff, ordered shutdown.

It only starts and watches our own commands (and nats-server); it is not a general process manager.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Child", "Supervisor"]

log = logging.getLogger(__name__)


@dataclass
class Child:
    """One supervised process: `orch <args>` with its output in `log_dir/<name>.log`."""

    name: str
    args: list[str]
    restart: bool = True
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0

    def command(self) -> list[str]:
        return [sys.executable, "-m", "orch_cli", *self.args]


class Supervisor:
    """Starts children in order, restarts the ones that die (with backoff), stops them in reverse order."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []

    def start(self, child: Child) -> Child:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        out = open(self.log_dir / f"{child.name}.log", "ab")  # noqa: SIM115 - owned by the child process
        env = {**os.environ, **child.env, "PYTHONUNBUFFERED": "1"}
        child.proc = subprocess.Popen(
            child.command(), stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        out.close()
        if child not in self.children:
            self.children.append(child)
        return child

    def poll(self) -> None:
        """Restart children that exited, waiting longer after each quick death (at most 10 s)."""
        now = time.monotonic()
        for child in self.children:
            if child.proc is None or child.proc.poll() is None or not child.restart:
                continue
            if child.next_start == 0.0:
                delay = min(10.0, 0.5 * 2**child.restarts)
                child.next_start = now + delay
                log.warning("%s exited with %s; restarting in %.1fs", child.name, child.proc.returncode, delay)
            elif now >= child.next_start:
                child.restarts += 1
                child.next_start = 0.0
                self.start(child)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM every child, newest first, then SIGKILL what is still running after `grace` seconds."""
        for child in reversed(self.children):
            if child.proc is not None and child.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.send_signal(signal.SIGTERM)
                try:
                    child.proc.wait(grace)
                except subprocess.TimeoutExpired:
                    child.proc.kill()
                    child.proc.wait()
