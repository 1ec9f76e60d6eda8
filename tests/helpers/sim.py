"""Start real `orch sim` servers (subprocess `python -m orch_sim`) for tests.

    with start_sim(tmp_path, gpu_name="RTX 4090", models=["checkpoints=a.safetensors"]) as sim:
        httpx.get(f"{sim.url}/queue")

Keyword options become CLI flags (`fail_at_node="3"` → `--fail-at-node 3`, `True` → a bare flag, a list
→ the flag repeated, None → left out). `restart()` kills nothing it did not start: it stops this process
and starts a new one on the same port and data directory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import REPO

__all__ = ["SimProcess", "free_port", "start_sim"]

READY_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _flags(options: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            args.append(flag)
        elif isinstance(value, list | tuple):
            for item in value:
                args += [flag, str(item)]
        else:
            args += [flag, str(value)]
    return args


class SimProcess:
    """One `python -m orch_sim` child process; a context manager that stops it on exit."""

    def __init__(self, data_dir: Path, port: int, options: dict[str, Any], env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = port
        self.options = options
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"sim-{port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def pid(self) -> int:
        assert self.process is not None, "sim not started"
        return self.process.pid

    def start(self) -> SimProcess:
        env = {**os.environ, **(self.env or {})}
        paths = [str(REPO / part) for part in ("sim", "common")]
        env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
        command = [sys.executable, "-m", "orch_sim", "--port", str(self.port), "--data-dir", str(self.data_dir),
                   *_flags(self.options)]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(REPO))
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"orch sim exited with {self.process.returncode}: {self.log()}")
            with contextlib.suppress(httpx.HTTPError, ValueError):
                state = httpx.get(f"{self.url}/sim/state", timeout=1.0)
                # The pid check keeps a sim that lost the port race from mistaking another sim for itself.
                if state.status_code == 200 and state.json().get("pid") == self.process.pid:
                    return
            time.sleep(0.1)
        self.kill()
        raise TimeoutError(f"orch sim on port {self.port} not ready after {READY_TIMEOUT}s: {self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait(self, timeout: float = 10.0) -> int:
        """Wait for the process to end by itself (e.g. a crash fault); its exit code."""
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self, hard: bool = True) -> SimProcess:
        """Kill (hard) or stop this process and start a new one on the same port and data directory."""
        if hard:
            self.kill()
        else:
            self.stop()
        return self.start()

    def __enter__(self) -> SimProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sim(tmp_path: Path, port: int | None = None, env: dict[str, str] | None = None,
              **options: Any) -> SimProcess:
    """Start a sim whose data directory is `tmp_path/"sim-data"` and wait until it answers."""
    data_dir = tmp_path / "sim-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    return SimProcess(data_dir, port or free_port(), options, env).start()
