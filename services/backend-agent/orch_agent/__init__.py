"""The backend agent: runs the orchestrator's commands on one ComfyUI and turns its websocket into events.

Start it with `orch agent --nats-url U --comfy-url URL [--id NAME]`, or from code::

    agent = Agent(AgentSettings(backend_id="gpu-1", comfy_url="http://127.0.0.1:8188"))
    await agent.run()
"""

from orch_agent.agent import Agent, BackendHeartbeat
from orch_agent.settings import AgentSettings

__all__ = ["Agent", "AgentSettings", "BackendHeartbeat", "run_agent"]


async def run_agent(settings: AgentSettings) -> None:
    """Run one agent until SIGTERM/SIGINT, then drain and leave."""
    import asyncio
    import gc
    import signal

    agent = Agent(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, agent.request_stop)
    # Everything imported so far lives as long as the process: keep it out of the collector's full passes, which
    # otherwise walk ~50,000 objects (~9 ms, a dispatch-latency outlier) every so many jobs.
    gc.collect()
    gc.freeze()
    await agent.run()
