"""The canvas's own suites, run from pytest so `make test` covers the UI.

- the vitest component and store tests (`npm test` in services/ui);
- the browser specs (`npm run e2e`): playwright-core drives Debian chromium against a fresh `orch up`
  (nats, scheduler, api, three simulated servers with their agents), or against ORCH_E2E_URL when set.

Both are skipped, with the reason, when node, the UI's node modules, or chromium are missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO

UI = REPO / "services" / "ui"
CHROMIUM = Path(os.environ.get("ORCH_CHROMIUM", "/usr/bin/chromium"))


def _npm(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    if not (UI / "node_modules").is_dir():
        pytest.skip("services/ui/node_modules is missing: run `npm ci` in services/ui (or `make install`)")
    return subprocess.run(
        [npm, *args], cwd=UI, capture_output=True, text=True, timeout=timeout, env={**os.environ, "CI": "1"}
    )


def _explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout ---\n{result.stdout[-6000:]}\n--- stderr ---\n{result.stderr[-3000:]}"


def test_the_canvas_components_and_stores_pass_their_vitest_suite() -> None:
    result = _npm("test", "--silent", timeout=240)
    assert result.returncode == 0, _explain(result)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_canvas_drives_a_live_fleet_in_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"no chromium at {CHROMIUM}: apt-get install -y chromium")
    if not (UI / "dist" / "index.html").is_file():
        build = _npm("run", "build", timeout=300)
        assert build.returncode == 0, _explain(build)
    result = _npm("run", "e2e", "--silent", timeout=840)
    assert result.returncode == 0, _explain(result)
