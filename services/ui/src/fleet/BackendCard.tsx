/** One server of the fleet: status, queue, running job with progress, GPU charts, jobs per minute, controls. */
import { memo, useState } from "react";
import { api } from "../api/client";
import type { Backend } from "../api/types";
import { jobsPerMinute, type MetricsSample } from "../live/liveReducer";
import { formatBytes, formatPercent } from "./format";
import { Sparkline } from "./Sparkline";

export interface BackendCardProps {
  backend: Backend;
  history: MetricsSample[];
  onError?: (message: string) => void;
}

export const BackendCard = memo(function BackendCard({ backend, history, onError }: BackendCardProps) {
  const [busy, setBusy] = useState(false);
  const m = backend.metrics;
  const gpu = m?.gpus[0];
  const jpm = jobsPerMinute(history);
  const progress = m?.progress ?? null;
  const disabled = backend.status === "disabled";
  const toggle = async () => {
    setBusy(true);
    try {
      await (disabled ? api.enableBackend(backend.id) : api.disableBackend(backend.id));
    } catch (e) {
      onError?.(`${backend.id}: ${(e as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  const remove = async () => {
    if (!confirm(`Remove server ${backend.id}?`)) return;
    try {
      await api.removeBackend(backend.id);
    } catch (e) {
      onError?.(`${backend.id}: ${(e as Error).message}`);
    }
  };
  const queue = m?.queue_remaining ?? backend.queued_jobs;
  const running = Array.isArray(backend.running_jobs) ? backend.running_jobs.length : backend.running_jobs;
  const runningJob = m?.running_job_id ?? (Array.isArray(backend.running_jobs) ? backend.running_jobs[0] : undefined);
  return (
    <article className={`backend-card status-${backend.status}`} data-testid={`backend-card-${backend.id}`}>
      <header>
        <span className="status-dot" aria-hidden />
        <strong className="backend-id">{backend.id}</strong>
        <span className="backend-status" data-testid={`backend-status-${backend.id}`}>
          {backend.status}
        </span>
      </header>
      <div className="backend-sub" title={backend.comfy_url}>
        {gpu?.name ?? backend.capabilities.gpu_name ?? "GPU"} · {backend.comfy_url}
      </div>
      <dl className="backend-stats">
        <dt>Queue</dt>
        <dd data-testid={`backend-queue-${backend.id}`}>{queue}</dd>
        <dt>Running</dt>
        <dd>{running}</dd>
        <dt>Done</dt>
        <dd>{m?.jobs_completed ?? backend.jobs_completed}</dd>
        <dt>Jobs/min</dt>
        <dd>{jpm === null ? "–" : jpm}</dd>
      </dl>
      <div className="backend-job">
        {runningJob ? (
          <span>
            job <code>{runningJob.slice(0, 8)}</code>
            {m?.running_node ? (
              <>
                {" "}
                · node <code>{m.running_node}</code>
              </>
            ) : null}
          </span>
        ) : (
          <span className="muted">idle</span>
        )}
        <progress
          data-testid={`backend-progress-${backend.id}`}
          max={1}
          value={progress ?? 0}
          aria-label={`progress of ${backend.id}`}
        />
      </div>
      <div className="backend-charts">
        <div>
          <span className="chart-label">GPU {formatPercent(gpu?.utilization)}</span>
          <Sparkline label="GPU utilisation" max={100} values={history.map((s) => s.utilization)} />
        </div>
        <div>
          <span className="chart-label">
            VRAM {formatBytes(gpu?.vram_used)} / {formatBytes(gpu?.vram_total)}
          </span>
          <Sparkline
            label="VRAM used"
            color="var(--accent-2)"
            max={gpu?.vram_total ?? undefined}
            values={history.map((s) => s.vramUsed)}
          />
        </div>
        <div>
          <span className="chart-label">Temp {gpu?.temperature == null ? "–" : `${Math.round(gpu.temperature)}°C`}</span>
          <Sparkline label="GPU temperature" color="var(--warn)" max={100} values={history.map((s) => s.temperature)} />
        </div>
      </div>
      <footer>
        <button type="button" disabled={busy} onClick={toggle} data-testid={`backend-toggle-${backend.id}`}>
          {disabled ? "Enable" : "Disable"}
        </button>
        <a href={`/backends/${encodeURIComponent(backend.id)}/comfy/`} target="_blank" rel="noreferrer">
          ComfyUI
        </a>
        <button type="button" className="danger" onClick={remove}>
          Remove
        </button>
      </footer>
    </article>
  );
});
