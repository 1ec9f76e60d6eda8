/** One server of the fleet: status, queue, running job with progress, GPU charts, jobs per minute, controls. */
import { memo, useState } from "react";
import { api } from "../api/client";
import type { Backend } from "../api/types";
import { jobsPerMinute, type MetricsSample } from "../live/liveReducer";
import { formatBytes, formatPercent } from "./format";
import { occupancy as occupancyOf, type Occupancy } from "./occupancy";
import { Sparkline } from "./Sparkline";

export interface BackendCardProps {
  backend: Backend;
  history: MetricsSample[];
  /** what it runs now (see `occupancy`); by default from the backend's own metrics and listing */
  occupancy?: Occupancy;
  onError?: (message: string) => void;
}

export const BackendCard = memo(function BackendCard({ backend, history, occupancy, onError }: BackendCardProps) {
  const [busy, setBusy] = useState(false);
  const m = backend.metrics;
  const gpu = m?.gpus[0];
  const jpm = jobsPerMinute(history);
  const now = occupancy ?? occupancyOf(backend);
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
  return (
    <article className={`backend-card status-${now.status}`} data-testid={`backend-card-${backend.id}`}>
      <header>
        <span className="status-dot" aria-hidden />
        <strong className="backend-id">{backend.id}</strong>
        <span className="backend-status" data-testid={`backend-status-${backend.id}`}>
          {now.status}
        </span>
      </header>
      <div className="backend-sub" title={backend.comfy_url}>
        {gpu?.name ?? backend.capabilities.gpu_name ?? "GPU"} · {backend.comfy_url}
      </div>
      <dl className="backend-stats">
        <dt>Queue</dt>
        <dd data-testid={`backend-queue-${backend.id}`}>{queue}</dd>
        <dt>Running</dt>
        <dd data-testid={`backend-running-${backend.id}`}>{now.running}</dd>
        <dt>Done</dt>
        <dd>{m?.jobs_completed ?? backend.jobs_completed}</dd>
        <dt>Jobs/min</dt>
        <dd>{jpm === null ? "–" : jpm}</dd>
      </dl>
      <div className="backend-job">
        {now.job ? (
          <span data-testid={`backend-job-${backend.id}`}>
            job <code>{now.job.slice(0, 8)}</code>
            {now.node ? (
              <>
                {" "}
                · node <code>{now.node}</code>
              </>
            ) : null}
          </span>
        ) : (
          <span className="muted" data-testid={`backend-job-${backend.id}`}>
            {now.status === "busy" ? "busy (not one of our jobs)" : "idle"}
          </span>
        )}
        <progress
          data-testid={`backend-progress-${backend.id}`}
          max={1}
          value={now.progress ?? 0}
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
