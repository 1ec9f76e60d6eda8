"""`orch scheduler --nats-url U --db FILE` as a real process: it serves, and SIGTERM shuts it down cleanly."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

from orch_common.contracts import subjects
from orch_common.contracts.rpc import RpcReply, RpcVerb
from orch_scheduler import replay
from tests.helpers import REPO
from tests.scheduler.factories import submitted
from tests.scheduler.wire import consumer_drained, publish


async def _ping(nc) -> RpcReply | None:
    try:
        msg = await nc.request(subjects.rpc(RpcVerb.PING.value), b"{}", timeout=1)
    except Exception:
        return None
    return RpcReply.model_validate_json(msg.data)


async def test_the_scheduler_process_serves_and_stops_cleanly_on_sigterm(nats_url, nc, tmp_path):
    db = tmp_path / "events.duckdb"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orch_cli", "scheduler", "--nats-url", nats_url, "--db", str(db), cwd=REPO
    )
    try:
        for _ in range(200):
            reply = await _ping(nc)
            if reply is not None:
                break
            await asyncio.sleep(0.1)
        assert reply is not None and reply.result["pong"] is True
        await publish(nc, submitted("j1", required_classes=["Nowhere"]))
        await consumer_drained(nc)
        got = json.loads((await nc.request(subjects.rpc("jobs.get"), b'{"job_id": "j1"}', timeout=5)).data)
        assert got["result"]["state"] == "queued"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 30)
    assert code == 0
    assert list(replay(db).jobs) == ["j1"]  # DuckDB was closed: the file opens and replays
