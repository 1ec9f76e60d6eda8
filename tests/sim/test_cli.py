"""`orch sim` / `python -m orch_sim` command line: every option is listed, bad values are named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.sim import SimProcess, start_sim

OPTIONS = ["--host", "--port", "--object-info", "--data-dir", "--speed", "--step-seconds", "--model-load-seconds",
           "--models", "--fail-at-node", "--crash-after-steps", "--hang-at-node", "--slow-object-info",
           "--gpu-name", "--vram", "--enable-cors-header"]


def orch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from orch_cli.main import app; app()", *args],
                          capture_output=True, text=True, timeout=60)


def test_orch_sim_help_lists_every_option() -> None:
    result = orch("sim", "--help")
    assert result.returncode == 0, result.stderr
    for option in OPTIONS:
        assert option in result.stdout, option


@pytest.mark.parametrize(("args", "complaint"), [
    (["--models", "nonsense"], "--models expects folder=a,b"),
    (["--vram", "lots"], "not a byte size"),
    (["--speed", "0"], "--speed must be positive"),
])
def test_a_bad_option_value_is_named(args: list[str], complaint: str, tmp_path: Path) -> None:
    result = orch("sim", "--data-dir", str(tmp_path), *args)
    assert result.returncode == 2
    assert complaint in result.stderr


def test_a_second_sim_on_a_taken_port_exits(sim: SimProcess, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="exited"):
        start_sim(tmp_path, port=sim.port)
