/**
 * What a server is doing now, from the freshest source for each part: the live jobs running on it (their state
 * and progress arrive within a frame), then its 1 Hz metrics (which also see prompts queued by someone else, such
 * as the embedded editor), then the REST listing (polled every few seconds). A job the live store holds as ended
 * is never shown as running, so the card says idle the moment its last job ends and busy the moment one starts.
 */
import { isTerminal, type Backend, type BackendStatus } from "../api/types";
import type { LiveJob } from "../live/liveReducer";

export interface Occupancy {
  status: BackendStatus;
  /** the jobs running there, as far as anything knows */
  running: number;
  job: string | null;
  node: string | null;
  /** 0..1, null when nothing says */
  progress: number | null;
}

/** The live jobs running on each backend, by backend id. */
export function runningByBackend(jobs: Record<string, LiveJob>): Record<string, LiveJob[]> {
  const out: Record<string, LiveJob[]> = {};
  for (const job of Object.values(jobs)) {
    if (job.state !== "running" || !job.backend) continue;
    (out[job.backend] ??= []).push(job);
  }
  return out;
}

export function occupancy(backend: Backend, running: LiveJob[] = [], jobs: Record<string, LiveJob> = {}): Occupancy {
  const m = backend.metrics;
  const ended = (id: string | null | undefined) => Boolean(id && jobs[id] && isTerminal(jobs[id].state));
  const restJobs = Array.isArray(backend.running_jobs) ? backend.running_jobs.filter((id) => !ended(id)) : [];
  const metricsJob = m?.running_job_id && !ended(m.running_job_id) ? m.running_job_id : null;
  const foreign = Boolean(m?.running_prompt_id) && !m?.running_job_id; // a prompt that is none of our jobs
  const live = running[0];
  const job = live?.id ?? metricsJob ?? (m ? null : (restJobs[0] ?? null));
  const count = running.length || (metricsJob ? 1 : 0) || (m ? 0 : Array.isArray(backend.running_jobs) ? restJobs.length : backend.running_jobs);
  let status = backend.status;
  if (status === "online" || status === "busy") {
    // without metrics the listing's word stands, unless every job it names is known to have ended
    const allEnded = Array.isArray(backend.running_jobs) && backend.running_jobs.length > 0 && restJobs.length === 0;
    const restBusy = !m && status === "busy" && !allEnded;
    status = job || foreign || restBusy ? "busy" : "online";
  }
  const liveProgress = live?.progress && live.progress.max > 0 ? live.progress.value / live.progress.max : null;
  return {
    status,
    running: count,
    job,
    node: live?.progress?.node_id ?? (metricsJob ? (m?.running_node ?? null) : null),
    progress: live ? liveProgress : metricsJob ? (m?.progress ?? null) : null,
  };
}
