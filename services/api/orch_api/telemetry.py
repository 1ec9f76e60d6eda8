"""Prometheus series the API exposes at `/metrics`, in a registry of its own (one per app)."""

from __future__ import annotations

import time
from collections import deque

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from orch_common.contracts.live import BackendMetrics
from orch_common.contracts.rpc import BackendView, JobState

__all__ = ["ApiMetrics"]


class ApiMetrics:
    """Counters, gauges and histograms of the API, the jobs and the backends' latest metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.jobs_submitted = Counter("orch_jobs_submitted", "Jobs accepted by POST /api/jobs", registry=r)
        self.jobs_by_state = Gauge("orch_jobs", "Jobs by state (as the scheduler reports them)", ["state"], registry=r)
        self.live_jobs = Gauge("orch_live_jobs", "Jobs queued, scheduled or running", registry=r)
        self.jobs_per_minute = Gauge(
            "orch_jobs_finished_per_minute", "Jobs reaching a terminal state, last 60 s", registry=r
        )
        self.backend_queue = Gauge("orch_backend_queue_length", "Prompts waiting on a backend", ["backend"], registry=r)
        self.backend_jobs_queued = Gauge(
            "orch_backend_jobs_queued",
            "Jobs the scheduler has placed on a backend, not yet running",
            ["backend"],
            registry=r,
        )
        self.backend_jobs_running = Gauge(
            "orch_backend_jobs_running", "Jobs running on a backend (scheduler's view)", ["backend"], registry=r
        )
        self.backends_by_status = Gauge("orch_backends", "Backends by status", ["status"], registry=r)
        self.backend_reachable = Gauge(
            "orch_backend_reachable", "1 when the agent reaches its ComfyUI", ["backend"], registry=r
        )
        self.gpu_utilization = Gauge("orch_gpu_utilization_percent", "GPU utilisation", ["backend", "gpu"], registry=r)
        self.gpu_vram_used = Gauge("orch_gpu_vram_used_bytes", "VRAM in use", ["backend", "gpu"], registry=r)
        self.gpu_vram_total = Gauge("orch_gpu_vram_total_bytes", "VRAM size", ["backend", "gpu"], registry=r)
        self.gpu_temperature = Gauge("orch_gpu_temperature_celsius", "GPU temperature", ["backend", "gpu"], registry=r)
        self.request_seconds = Histogram(
            "orch_api_request_duration_seconds",
            "API request latency",
            ["method", "route", "status"],
            registry=r,
        )
        self.live_clients = Gauge("orch_api_live_clients", "Connected live-stream clients", registry=r)
        self.live_coalesced = Counter(
            "orch_api_live_coalesced", "Live messages replaced or dropped by coalescing", registry=r
        )
        self.live_sent = Counter("orch_api_live_sent", "Live messages sent to clients", registry=r)
        self._finished: deque[float] = deque()
        for state in JobState:
            self.jobs_by_state.labels(state=state.value)

    def job_finished(self) -> None:
        now = time.monotonic()
        self._finished.append(now)
        self._forget_finished_before(now - 60.0)  # bounded even when nothing scrapes /metrics

    def observe_backend(self, m: BackendMetrics) -> None:
        self.backend_queue.labels(backend=m.backend_id).set(m.queue_remaining)
        self.backend_reachable.labels(backend=m.backend_id).set(1 if m.reachable else 0)
        for gpu in m.gpus:
            labels = {"backend": m.backend_id, "gpu": str(gpu.index)}
            if gpu.utilization is not None:
                self.gpu_utilization.labels(**labels).set(gpu.utilization)
            if gpu.vram_used is not None:
                self.gpu_vram_used.labels(**labels).set(gpu.vram_used)
            if gpu.vram_total is not None:
                self.gpu_vram_total.labels(**labels).set(gpu.vram_total)
            if gpu.temperature is not None:
                self.gpu_temperature.labels(**labels).set(gpu.temperature)

    def set_job_counts(self, counts: dict[JobState, int]) -> None:
        for state, n in counts.items():
            self.jobs_by_state.labels(state=state.value).set(n)
        self.live_jobs.set(sum(n for s, n in counts.items() if not s.terminal))

    def set_backend_views(self, views: list[BackendView]) -> None:
        statuses: dict[str, int] = {"online": 0, "busy": 0, "offline": 0, "disabled": 0}
        for view in views:
            statuses[view.status] = statuses.get(view.status, 0) + 1
            self.backend_jobs_queued.labels(backend=view.id).set(view.queued_jobs)
            self.backend_jobs_running.labels(backend=view.id).set(len(view.running_jobs))
        for status, n in statuses.items():
            self.backends_by_status.labels(status=status).set(n)

    def render(self) -> bytes:
        self._forget_finished_before(time.monotonic() - 60.0)
        self.jobs_per_minute.set(len(self._finished))
        return generate_latest(self.registry)

    def _forget_finished_before(self, cutoff: float) -> None:
        while self._finished and self._finished[0] < cutoff:
            self._finished.popleft()
