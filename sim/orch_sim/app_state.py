"""Everything one sim process holds: config, directories, catalogue, queue, clients, worker, logs, fake GPU."""

from __future__ import annotations

import dataclasses
import datetime
import logging
import shutil
from collections import deque
from pathlib import Path
from typing import Any

from orch_sim.catalog import Catalog, load_object_info
from orch_sim.config import Faults, SimConfig
from orch_sim.gpu import FakeGpu
from orch_sim.hub import Hub
from orch_sim.nodeset import NodeSet, load_nodeset
from orch_sim.prompt_queue import PromptQueue
from orch_sim.runner import Runner

__all__ = ["SimServer"]

log = logging.getLogger("orch_sim")


class SimServer:
    """The sim's state; routes and the worker share it. `restart()` simulates a ComfyUI restart."""

    def __init__(self, config: SimConfig, nodes: NodeSet | None = None) -> None:
        self.config = config
        self.faults: Faults = dataclasses.replace(config.faults)
        self.nodes = nodes if nodes is not None else load_nodeset()
        root = config.data_dir.resolve()
        self.root = root
        self.dirs: Any = self.nodes.make("SimDirs", input=root / "input", output=root / "output",
                                         temp=root / "temp")
        self.user_dir = root / "user" / "default"
        for path in (self.dirs.input, self.dirs.output, self.user_dir):
            Path(path).mkdir(parents=True, exist_ok=True)
        self._clean_temp()
        self.state: Any = self.nodes.make(
            "SimState", loaded_checkpoint=None, model_load_seconds=config.model_load_seconds,
            step_seconds=config.step_seconds, speed=config.speed)
        self.models: dict[str, list[str]] = self.nodes.default_models() if config.demo_models else {}
        for folder, files in config.models.items():
            self.models.setdefault(folder, []).extend(f for f in files if f not in self.models[folder])
        base = load_object_info(config.object_info_file)
        self.catalog = Catalog(self.nodes.augment_object_info(base, self.models), Path(self.dirs.input))
        self.gpu: FakeGpu | None = None
        if config.gpu_name is not None:
            self.gpu = FakeGpu(config.gpu_name, config.vram, lambda: self.state.loaded_checkpoint is not None)
        self.hub = Hub()
        self.queue = PromptQueue(self.broadcast_status)
        self.runner = Runner(self)
        self.number = 0
        self.logs: deque[dict[str, str]] = deque(maxlen=300)
        self.restarts = 0

    async def start(self) -> None:
        self.runner.start()

    async def stop(self) -> None:
        await self.runner.stop()
        self.hub.close_all()

    async def restart(self) -> None:
        """Queue, history, cache, temp files and loaded model gone, sockets closed, faults and pacing back
        to the start-up options (as a process restarted with the same flags would be); inputs and outputs
        stay."""
        await self.runner.stop()
        for name, value in dataclasses.asdict(self.config.faults).items():
            setattr(self.faults, name, value)
        self.state.speed = self.config.speed
        self.state.step_seconds = self.config.step_seconds
        self.state.model_load_seconds = self.config.model_load_seconds
        self.queue.wipe()
        self.runner.cache.clear()
        self.runner.interrupt.clear()
        self.state.loaded_checkpoint = None
        self.hub.close_all()
        self._clean_temp()
        self.number = 0
        self.restarts += 1
        self.runner.start()

    def folders(self) -> dict[str, Path]:
        """The directories `/view`, uploads and `/internal/files` know, by their ComfyUI type name."""
        return {"input": Path(self.dirs.input), "output": Path(self.dirs.output), "temp": Path(self.dirs.temp)}

    def _clean_temp(self) -> None:
        """ComfyUI empties its temp directory (PreviewImage files) at every start."""
        shutil.rmtree(self.dirs.temp, ignore_errors=True)
        Path(self.dirs.temp).mkdir(parents=True, exist_ok=True)

    def broadcast_status(self) -> None:
        self.hub.send_json("status", self.status_payload())

    def status_payload(self, sid: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"status": {"exec_info": {"queue_remaining": self.queue.remaining}}}
        if sid is not None:
            payload["sid"] = sid
        return payload

    def log_line(self, message: str) -> None:
        log.info(message)
        entry = {"t": datetime.datetime.now().isoformat(), "m": message + "\n"}
        self.logs.append(entry)
        self.hub.send_logs([entry])

    def next_number(self, front: bool) -> int:
        number = self.number
        self.number += 1
        return -number if front else number
