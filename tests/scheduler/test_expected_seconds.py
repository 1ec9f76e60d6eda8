"""RunJob's `expected_seconds` (the agent's hang budget is twice it): measured runs only when they apply."""

from __future__ import annotations

from datetime import timedelta

from orch_common.contracts import events as ev
from orch_common.contracts.commands import RunJob
from orch_common.contracts.events import utcnow
from tests.scheduler.conftest import running_scheduler
from tests.scheduler.wire import eventually, publish


def _txt2img(ckpt: str) -> dict:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }


_BASE = utcnow()


async def _run_for(seconds: float, gpu, nc, run: RunJob, slot: int) -> None:  # type: ignore[no-untyped-def]
    began = _BASE + timedelta(seconds=60 * slot)
    await publish(
        nc,
        ev.JobStarted(
            job_id=run.job_id, attempt=1, backend_id=gpu.backend_id, prompt_id=run.prompt_id, occurred_at=began
        ),
    )
    await publish(
        nc,
        ev.JobSucceeded(
            job_id=run.job_id, attempt=1, backend_id=gpu.backend_id, occurred_at=began + timedelta(seconds=seconds)
        ),
    )


async def test_a_job_that_must_load_another_checkpoint_is_not_given_the_budget_of_warm_runs(
    nats_url, nc, agent, tmp_path
):
    async with running_scheduler(
        nats_url, tmp_path / "events.duckdb", max_inflight_per_backend=1, default_expected_s=300.0
    ) as scheduler:
        gpu = await agent("gpu", ("CheckpointLoaderSimple", "SaveImage"))
        await eventually(lambda: "gpu" in scheduler.state.backends, what="the backend")
        for i, seconds in enumerate((2.0, 3.0, 2.5)):
            await publish(nc, ev.JobSubmitted(job_id=f"warm{i}", workflow=_txt2img("a.safetensors")))
            run = await gpu.next_command()
            assert isinstance(run, RunJob)
            await _run_for(seconds, gpu, nc, run, slot=i)
            await eventually(lambda i=i: scheduler.state.jobs[f"warm{i}"].state.terminal, what="done")

        await publish(nc, ev.JobSubmitted(job_id="same", workflow=_txt2img("a.safetensors")))
        same = await gpu.next_command()
        assert isinstance(same, RunJob)
        assert same.expected_seconds == 3.0, "the longest warm run, not the median"
        await _run_for(2.0, gpu, nc, same, slot=5)
        await eventually(lambda: scheduler.state.jobs["same"].state.terminal, what="done")

        await publish(nc, ev.JobSubmitted(job_id="switch", workflow=_txt2img("b.safetensors")))
        switch = await gpu.next_command()
        assert isinstance(switch, RunJob)
        assert switch.expected_seconds == 300.0, "a checkpoint switch falls back to the configured budget"
