"""The worker: runs queued prompts one at a time with ComfyUI's message sequence and routing.

Per prompt (client_id set): `execution_start` → `execution_cached` → per node `progress_state`
(running) → `executing` → (`progress_state` + `progress` + preview frames)* → `executed`? →
`progress_state` (finished) … → `execution_success` | `execution_error` | `execution_interrupted`; the
server then writes history (`status` broadcast) and sends `executing {node: null}`.

Routing: execution_* and executing/executed go only to the prompt's client (nothing without one, except
`execution_interrupted`, which then broadcasts); `progress`, `progress_state` and previews go to the
client, or to everyone when the prompt has none. With a metadata-capable client a preview is sent as a
type-4 frame before its `progress`; otherwise as type 1 after it (the recorded orders).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orch_common.comfy.binary import ImageFormat, PreviewMetadata, encode_preview_image, encode_preview_with_metadata
from orch_sim.graph import ExecutionOrder, cache_keys, is_changed_values
from orch_sim.prompt_queue import QueueItem
from orch_sim.validation import exception_type_name, is_link

if TYPE_CHECKING:
    from PIL.Image import Image

    from orch_sim.app_state import SimServer

__all__ = ["CacheEntry", "Runner"]

log = logging.getLogger("orch_sim")

PREVIEW_SIZE = 512


@dataclass
class CacheEntry:
    outputs: tuple[Any, ...]
    ui: dict[str, Any] | None


class _NodeFailed(Exception):
    """A node raised: carries what `execution_error` reports."""

    def __init__(self, node_id: str, cause: BaseException, current_inputs: dict[str, Any]) -> None:
        super().__init__(str(cause))
        self.node_id = node_id
        self.cause = cause
        self.current_inputs = current_inputs


class _NodeInterrupted(Exception):
    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self.node_id = node_id


def _now_ms() -> int:
    return int(time.time() * 1000)


def _format_value(value: Any) -> Any:
    if value is None or isinstance(value, int | float | bool | str):
        return value
    return str(value)


def _encode(image: Image, fmt: ImageFormat) -> bytes:
    buffer = io.BytesIO()
    if fmt is ImageFormat.JPEG:
        preview = image.convert("RGB")
        preview.thumbnail((PREVIEW_SIZE, PREVIEW_SIZE))
        preview.save(buffer, format="JPEG", quality=95)
    else:
        image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


class Runner:
    """Owns the node-output cache, the interrupt flag and the one worker task."""

    def __init__(self, server: SimServer) -> None:
        self.server = server
        self.cache: dict[str, CacheEntry] = {}
        self.interrupt = asyncio.Event()
        self.hang_release = asyncio.Event()
        self.current_prompt_id: str | None = None
        self.current_client_id: str | None = None
        self.last_node_id: str | None = None
        self.pending_free: dict[str, bool] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="orch-sim-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.hang_release.set()
        self.hang_release = asyncio.Event()
        self.current_prompt_id = self.current_client_id = self.last_node_id = None

    def request_interrupt(self, prompt_id: str | None) -> None:
        if prompt_id is not None and prompt_id != self.current_prompt_id:
            return
        self.interrupt.set()

    def request_free(self, unload_models: bool, free_memory: bool) -> None:
        if self.current_prompt_id is None:
            self._apply_free(unload_models, free_memory)
        else:
            self.pending_free = {"unload_models": unload_models, "free_memory": free_memory}

    def _apply_free(self, unload_models: bool, free_memory: bool) -> None:
        if unload_models or free_memory:
            self.server.state.loaded_checkpoint = None
        if free_memory:
            self.cache.clear()

    async def _loop(self) -> None:
        while True:
            item = await self.server.queue.get()
            try:
                await self.execute(item)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in the sim must neither kill the worker nor leave the prompt running
                log.exception("sim worker failed on prompt %s", item[1])
                if item[1] in self.server.queue.running:
                    self.server.queue.task_done(item[1], {}, {},
                                                {"status_str": "error", "completed": False, "messages": []})
            if self.pending_free:
                self._apply_free(**self.pending_free)
                self.pending_free = {}

    async def execute(self, item: QueueItem) -> None:
        _, prompt_id, prompt, extra_data, outputs = item
        client_id = extra_data.get("client_id")
        self.interrupt.clear()
        self.current_prompt_id, self.current_client_id = prompt_id, client_id
        started = time.perf_counter()
        run = _PromptRun(self, prompt_id, prompt, extra_data, outputs)
        try:
            status = await run.run()
        finally:
            self.current_prompt_id = self.current_client_id = self.last_node_id = None
        self.server.queue.task_done(prompt_id, run.ui_outputs, run.meta, status)
        if client_id is not None:
            self.server.hub.send_json("executing", {"node": None, "prompt_id": prompt_id}, client_id)
        self.server.log_line(f"Prompt executed in {time.perf_counter() - started:.2f} seconds")


class _PromptRun:
    """One execution of one prompt."""

    def __init__(self, runner: Runner, prompt_id: str, prompt: dict[str, Any], extra_data: dict[str, Any],
                 outputs: list[str]) -> None:
        self.runner = runner
        self.server = runner.server
        self.prompt_id = prompt_id
        self.prompt = prompt
        self.extra_data = extra_data
        self.outputs = outputs
        self.client_id: str | None = extra_data.get("client_id")
        self.messages: list[list[Any]] = []
        self.ui_outputs: dict[str, Any] = {}
        self.meta: dict[str, Any] = {}
        self.executed: list[str] = []
        self.progress: dict[str, dict[str, Any]] = {}
        self.pending_progress: dict[str, Any] | None = None
        self.steps = 0
        self.keys: dict[str, str] = {}
        self.node_prompt: dict[str, Any] = prompt
        preview_method = extra_data.get("preview_method")
        self.previews_enabled = isinstance(preview_method, str) and preview_method not in ("none", "default")

    # -- sending --------------------------------------------------------------------------------------

    def _flush(self) -> None:
        if self.pending_progress is not None:
            self.server.hub.send_json("progress", self.pending_progress, self.client_id)
            self.pending_progress = None

    def _to_client(self, event: str, data: dict[str, Any]) -> None:
        self._flush()
        if self.client_id is not None:
            self.server.hub.send_json(event, data, self.client_id)

    def _add_message(self, event: str, data: dict[str, Any], broadcast: bool) -> None:
        self._flush()
        stamped = {**data, "timestamp": _now_ms()}
        self.messages.append([event, stamped])
        if self.client_id is not None or broadcast:
            self.server.hub.send_json(event, stamped, self.client_id)

    def _send_progress_state(self) -> None:
        self._flush()
        self.server.hub.send_json("progress_state", {"prompt_id": self.prompt_id, "nodes": dict(self.progress)},
                                  self.client_id)

    def _progress_entry(self, node_id: str, value: Any, maximum: Any, state: str) -> None:
        self.progress[node_id] = {
            "value": value, "max": maximum, "state": state, "node_id": node_id, "prompt_id": self.prompt_id,
            "display_node_id": node_id, "parent_node_id": None, "real_node_id": node_id,
        }

    def _finish_progress(self, node_id: str) -> None:
        entry = self.progress.get(node_id)
        maximum = entry["max"] if entry is not None else 1
        self._progress_entry(node_id, maximum, maximum, "finished")
        self._send_progress_state()

    def _send_image(self, node_id: str, image: Image, fmt: ImageFormat) -> None:
        data = _encode(image, fmt)
        client = self.server.hub.get(self.client_id)
        if client is not None and client.wants_preview_metadata:
            metadata = PreviewMetadata(node_id=node_id, prompt_id=self.prompt_id, display_node_id=node_id,
                                       parent_node_id=None, real_node_id=node_id, image_type=fmt.mime_type)
            self.server.hub.send_bytes(encode_preview_with_metadata(metadata, data), self.client_id)
            self._flush()
        else:
            self._flush()
            self.server.hub.send_bytes(encode_preview_image(fmt, data), self.client_id)

    # -- running --------------------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        self._add_message("execution_start", {"prompt_id": self.prompt_id}, broadcast=False)
        is_changed = is_changed_values(self.prompt, Path(self.server.dirs.input))
        # Nodes see the prompt the way ComfyUI's executor holds it: with `is_changed` filled in (on copies of
        # those nodes; nodes only read the prompt).
        self.node_prompt = dict(self.prompt)
        for changed_id, value in is_changed.items():
            self.node_prompt[changed_id] = {**self.prompt[changed_id], "is_changed": value}
        self.keys = keys = self._cache_keys(is_changed)
        cache = self.runner.cache
        live = set(keys.values())
        for stale in [key for key in cache if key not in live]:
            del cache[stale]
        cached = [node_id for node_id in self.prompt if node_id in keys and keys[node_id] in cache]
        self._add_message("execution_cached", {"nodes": cached, "prompt_id": self.prompt_id}, broadcast=False)

        order = ExecutionOrder(self.prompt, self.server.catalog.is_output, lambda n: keys.get(n, "") in cache)
        for output_id in self.outputs:
            order.add(output_id)
        try:
            while order:
                next_id = order.next()
                if next_id is None:
                    break
                entry = cache.get(keys[next_id])
                if entry is not None:
                    self._replay(next_id, entry)
                else:
                    await self._run_node(next_id, keys[next_id])
                order.done(next_id)
        except _NodeInterrupted as stop:
            self._add_message("execution_interrupted", {
                "prompt_id": self.prompt_id, "node_id": stop.node_id,
                "node_type": self.prompt[stop.node_id]["class_type"], "executed": list(self.executed)},
                broadcast=True)
            return self._status("error", completed=False)
        except _NodeFailed as failure:
            cause = failure.cause
            self._add_message("execution_error", {
                "prompt_id": self.prompt_id, "node_id": failure.node_id,
                "node_type": self.prompt[failure.node_id]["class_type"], "executed": list(self.executed),
                "exception_message": f"{cause}\n", "exception_type": exception_type_name(cause),
                "traceback": traceback.format_tb(cause.__traceback__),
                "current_inputs": failure.current_inputs, "current_outputs": list(self.prompt)},
                broadcast=False)
            return self._status("error", completed=False)
        self._add_message("execution_success", {"prompt_id": self.prompt_id}, broadcast=False)
        return self._status("success", completed=True)

    def _status(self, status_str: str, completed: bool) -> dict[str, Any]:
        self._flush()
        return {"status_str": status_str, "completed": completed, "messages": self.messages}

    def _cache_keys(self, is_changed: dict[str, Any]) -> dict[str, str]:
        try:
            return cache_keys(self.prompt, list(self.prompt), is_changed)
        except Exception:  # a broken, unreachable node (partial acceptance) must not stop the run
            return cache_keys(self.prompt, self.outputs, is_changed)

    def _record_ui(self, node_id: str, ui: dict[str, Any]) -> None:
        self.ui_outputs[node_id] = ui
        self.meta[node_id] = {"node_id": node_id, "display_node": node_id, "parent_node": None,
                              "real_node_id": node_id}

    def _replay(self, node_id: str, entry: CacheEntry) -> None:
        self._to_client("executed", {"node": node_id, "display_node": node_id, "output": entry.ui,
                                     "prompt_id": self.prompt_id})
        if entry.ui is not None:
            self._record_ui(node_id, entry.ui)
        self._finish_progress(node_id)

    def _resolve_inputs(self, node_id: str) -> dict[str, Any]:
        """Declared inputs only (like ComfyUI's get_input_data): links replaced by upstream outputs."""
        declared = self.server.catalog.inputs(self.prompt[node_id]["class_type"])
        resolved: dict[str, Any] = {}
        for name, value in self.prompt[node_id].get("inputs", {}).items():
            if name not in declared:
                continue
            if is_link(value):
                entry = self.runner.cache[self.keys[value[0]]]
                resolved[name] = entry.outputs[value[1]]
            else:
                resolved[name] = value
        return resolved

    async def _run_node(self, node_id: str, key: str) -> None:
        class_type: str = self.prompt[node_id]["class_type"]
        self._progress_entry(node_id, 0.0, 1.0, "running")
        self._send_progress_state()
        self.runner.last_node_id = node_id
        self._to_client("executing", {"node": node_id, "display_node": node_id, "prompt_id": self.prompt_id})
        interrupted = self.server.nodes.interrupted_error()
        inputs: dict[str, Any] = {}  # stringified for `current_inputs` only when the node fails
        gpu = self.server.gpu
        if gpu is not None:
            gpu.begin_work()
        try:
            if self.runner.interrupt.is_set():
                raise _NodeInterrupted(node_id)
            faults = self.server.faults
            if faults.matches(faults.hang_at_node, node_id, class_type):
                log.warning("hanging at node %s (%s) as asked", node_id, class_type)
                await self._hang()
                if self.runner.interrupt.is_set():
                    raise _NodeInterrupted(node_id)
            if faults.matches(faults.fail_at_node, node_id, class_type):
                raise RuntimeError(f"orch sim: injected failure at node {node_id} ({class_type})")
            executor = self.server.nodes.executor(class_type)
            if executor is None:
                raise NotImplementedError(f"orch sim has no implementation of node class {class_type}")
            inputs = self._resolve_inputs(node_id)
            result = await executor(self._context(node_id, class_type), inputs)
        except (_NodeInterrupted, asyncio.CancelledError):
            raise
        except interrupted:
            raise _NodeInterrupted(node_id) from None
        except Exception as exc:
            self._flush()
            current_inputs = {name: [_format_value(value)] for name, value in inputs.items()}
            raise _NodeFailed(node_id, exc, current_inputs) from exc
        finally:
            if gpu is not None:
                gpu.end_work()
        self._flush()
        self.runner.cache[key] = CacheEntry(tuple(result.outputs), result.ui)
        self.executed.append(node_id)
        if result.ui is not None:
            self._record_ui(node_id, result.ui)
            self._to_client("executed", {"node": node_id, "display_node": node_id, "output": result.ui,
                                         "prompt_id": self.prompt_id})
        self._finish_progress(node_id)

    def _context(self, node_id: str, class_type: str) -> Any:
        extra_pnginfo = self.extra_data.get("extra_pnginfo")
        return self.server.nodes.make(
            "NodeContext", prompt_id=self.prompt_id, node_id=node_id, class_type=class_type,
            dirs=self.server.dirs, state=self.server.state, prompt=self.node_prompt,
            extra_pnginfo=extra_pnginfo if isinstance(extra_pnginfo, dict) else None,
            previews_enabled=self.previews_enabled,
            report_progress=self._reporter(node_id), send_preview=self._previewer(node_id, ImageFormat.JPEG),
            send_image_frame=self._previewer(node_id, ImageFormat.PNG),
            check_interrupted=self._check_interrupted, sleep=self._sleep)

    def _reporter(self, node_id: str) -> Callable[[int, int], Awaitable[None]]:
        async def report_progress(value: int, maximum: int) -> None:
            self._progress_entry(node_id, value, maximum, "running")
            self._send_progress_state()
            self.pending_progress = {"value": value, "max": maximum, "prompt_id": self.prompt_id, "node": node_id}
            self.steps += 1
            limit = self.server.faults.crash_after_steps
            if limit is not None and self.steps >= limit:
                log.warning("crashing after %d steps as asked", self.steps)
                sys.stderr.flush()
                os._exit(70)
            await asyncio.sleep(0)

        return report_progress

    def _previewer(self, node_id: str, fmt: ImageFormat) -> Callable[[Image], Awaitable[None]]:
        async def send(image: Image) -> None:
            if fmt is ImageFormat.JPEG and not self.previews_enabled:
                return
            self._send_image(node_id, image, fmt)
            await asyncio.sleep(0)

        return send

    async def _hang(self) -> None:
        """No progress until the prompt is interrupted, the fault is cleared, or the sim restarts."""
        release = asyncio.ensure_future(self.runner.hang_release.wait())
        interrupt = asyncio.ensure_future(self.runner.interrupt.wait())
        try:
            await asyncio.wait({release, interrupt}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            release.cancel()
            interrupt.cancel()

    def _check_interrupted(self) -> None:
        if self.runner.interrupt.is_set():
            raise self.server.nodes.interrupted_error()("interrupted")

    async def _sleep(self, seconds: float) -> None:
        self._check_interrupted()
        delay = max(0.0, seconds) / self.server.state.speed
        try:
            await asyncio.wait_for(self.runner.interrupt.wait(), timeout=delay)
        except TimeoutError:
            return
        self._check_interrupted()
