"""When ComfyUI goes away, the agent says its backend is lost before it fails the attempts that were there.

Were the failures first, the scheduler could place their retries on this backend again before it knew, and each
retry would fail at once, using up the job's attempts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orch_common.contracts import subjects
from orch_common.contracts.events import FailureReason
from orch_common.natsutil import NatsServer
from tests.agent.harness import ended, has, job_events, run_command, running_agent, send
from tests.helpers.nats import nats_client
from tests.helpers.sim import start_sim
from tests.helpers.workflows import txt2img

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]


async def test_backend_lost_is_in_the_stream_before_the_failures_of_its_attempts(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    with start_sim(tmp_path, demo_models=True, step_seconds=0.1) as sim:
        async with nats_client(nats_server.url) as nc, running_agent(nc, nats_server.url, sim.url, "b-order"):
            command = run_command("b-order", txt2img(seed=5, steps=60))
            await send(nc, command)
            await job_events(nc, command.job_id, has("job.progressed"))
            sim.kill()
            events = await job_events(nc, command.job_id, ended)
            failed = events[-1]
            assert (failed.type, failed.reason) == ("job.attempt_failed", FailureReason.BACKEND_LOST)
            js = nc.jetstream()
            lost = await js.get_last_msg(subjects.EVENTS_STREAM, subjects.backend_event("b-order", "lost"))
            failure = await js.get_last_msg(subjects.EVENTS_STREAM, failed.subject)
            assert lost.seq < failure.seq
