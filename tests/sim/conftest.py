"""One real `orch sim` process per test module; `sim` wipes its state, faults and pacing included
(POST /sim/restart), before each test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.helpers.sim import SimProcess, start_sim


@pytest.fixture(scope="module")
def sim_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    with start_sim(tmp_path_factory.mktemp("sim")) as process:
        yield process


@pytest.fixture
def sim(sim_process: SimProcess) -> SimProcess:
    response = httpx.post(f"{sim_process.url}/sim/restart", timeout=10)
    assert response.status_code == 200, response.text
    return sim_process
