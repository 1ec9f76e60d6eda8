"""The services' main coroutines run on uvloop, the loop uvicorn already gives the API and the sims."""

from __future__ import annotations

import asyncio

import uvloop

from orch_common import eventloop


def test_run_returns_the_coroutines_result_on_a_uvloop_loop() -> None:
    async def which_loop() -> str:
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop()).__module__

    assert eventloop.run(which_loop()).startswith("uvloop")


def test_run_leaves_no_loop_behind_for_the_next_caller() -> None:
    async def answer() -> int:
        return 42

    assert eventloop.run(answer()) == 42
    assert eventloop.run(answer()) == 42
    factory = eventloop.loop_factory()
    assert factory is not None
    loop = factory()
    assert isinstance(loop, uvloop.Loop)
    loop.close()
