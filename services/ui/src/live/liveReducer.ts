/**
 * The live store: backends, their metrics history and the state of jobs, folded from `/api/live` messages.
 *
 * Pure: `liveReducer(state, action) -> state`. Two rules the socket relies on:
 * - coalescing: `coalesce(batch)` keeps only the newest progress and preview per job inside one batch;
 * - terminal states are final: once a job has succeeded, failed or been cancelled, later progress, previews
 *   and non-terminal states of it (late or out-of-order deliveries) are ignored.
 *
 * A snapshot (each (re)connect) lists every unfinished job; unfinished jobs of the store it leaves out ended while
 * the socket was down, so they go to `recheck` for the provider to read back over REST.
 */
import {
  isTerminal,
  type Backend,
  type BackendMetrics,
  type Job,
  type JobOutput,
  type JobState,
  type LiveMessage,
} from "../api/types";

export const HISTORY_LENGTH = 60;

export interface MetricsSample {
  at: number; // ms since epoch
  utilization: number | null;
  vramUsed: number | null;
  vramTotal: number | null;
  temperature: number | null;
  jobsCompleted: number;
}

export interface JobProgress {
  node_id: string | null;
  value: number;
  max: number;
}

export interface LiveJob {
  id: string;
  state: JobState;
  backend: string | null;
  attempt: number;
  error: string | null;
  outputs: JobOutput[];
  progress: JobProgress | null;
  preview: { node_id: string | null; url: string } | null;
  labels: Record<string, string>;
  /** a run's job: its project, run and graph node (its item is `labels.item`) */
  projectId: string | null;
  runId: string | null;
  graphNodeId: string | null;
  updatedAt: number;
}

export interface LiveState {
  connected: boolean;
  backends: Record<string, Backend>;
  history: Record<string, MetricsSample[]>;
  jobs: Record<string, LiveJob>;
  /** unfinished jobs the last snapshot did not list: their end is to be read back over REST */
  recheck: string[];
}

export type LiveAction =
  | { type: "messages"; messages: LiveMessage[]; now?: number }
  | { type: "connection"; connected: boolean }
  | { type: "backends"; backends: Backend[] }
  | { type: "jobs"; jobs: Job[]; now?: number }
  | { type: "rechecked"; ids: string[] };

export const initialLiveState: LiveState = { connected: false, backends: {}, history: {}, jobs: {}, recheck: [] };

const STATE_RANK: Record<JobState, number> = {
  queued: 0,
  scheduled: 1,
  running: 2,
  succeeded: 3,
  failed: 3,
  cancelled: 3,
};

/** Drop progress and preview messages superseded by a newer one of the same job within the batch. */
export function coalesce(batch: LiveMessage[]): LiveMessage[] {
  const lastIndex = new Map<string, number>();
  batch.forEach((m, i) => {
    if (m.type === "progress" || m.type === "preview") lastIndex.set(`${m.type}:${m.job_id}`, i);
  });
  return batch.filter(
    (m, i) => (m.type !== "progress" && m.type !== "preview") || lastIndex.get(`${m.type}:${m.job_id}`) === i,
  );
}

function sampleOf(m: BackendMetrics): MetricsSample {
  const gpu = m.gpus[0];
  const parsed = Date.parse(m.at);
  return {
    at: Number.isNaN(parsed) ? Date.now() : parsed,
    utilization: gpu?.utilization ?? null,
    vramUsed: gpu?.vram_used ?? null,
    vramTotal: gpu?.vram_total ?? null,
    temperature: gpu?.temperature ?? null,
    jobsCompleted: m.jobs_completed,
  };
}

function withMetrics(state: LiveState, m: BackendMetrics): LiveState {
  const prev = state.history[m.backend_id] ?? [];
  const sample = sampleOf(m);
  const last = prev[prev.length - 1];
  const history = last && last.at === sample.at ? prev : [...prev, sample].slice(-HISTORY_LENGTH);
  const backend = state.backends[m.backend_id];
  return {
    ...state,
    history: { ...state.history, [m.backend_id]: history },
    backends: backend ? { ...state.backends, [m.backend_id]: { ...backend, metrics: m } } : state.backends,
  };
}

function blankJob(id: string, state: JobState, now: number): LiveJob {
  return {
    id,
    state,
    backend: null,
    attempt: 1,
    error: null,
    outputs: [],
    progress: null,
    preview: null,
    labels: {},
    projectId: null,
    runId: null,
    graphNodeId: null,
    updatedAt: now,
  };
}

/** A job error as one line, whether the server sent a string or `{reason, message, node_id, node_type}`. */
export function errorText(error: unknown): string | null {
  if (error === null || error === undefined) return null;
  if (typeof error === "string") return error;
  if (typeof error === "object") {
    const e = error as Record<string, unknown>;
    const where = e.node_id ? ` (node ${String(e.node_id)}${e.node_type ? ` ${String(e.node_type)}` : ""})` : "";
    const text = [e.reason, e.message].filter((x) => x !== null && x !== undefined && x !== "").join(": ");
    return (text || JSON.stringify(error)) + where;
  }
  return String(error);
}

type JobUpdate = Omit<Partial<Job>, "error"> & { id: string; state: JobState; attempt?: number; error?: unknown };

/**
 * Fold one job update. A terminal state is final. Ordered updates (`ordered`, the live stream) may move a job
 * anywhere else; unordered ones (REST answers racing the stream) never move it back within an attempt.
 */
export function applyJobUpdate(
  current: LiveJob | undefined,
  update: JobUpdate,
  now: number,
  ordered = false,
): LiveJob | undefined {
  const job = current ?? blankJob(update.id, update.state, now);
  if (current) {
    if (isTerminal(current.state)) {
      // A terminal state is final; only outputs that were missing may still arrive.
      return update.outputs?.length && !current.outputs.length ? { ...current, outputs: update.outputs } : undefined;
    }
    const attempt = update.attempt ?? current.attempt;
    const sameAttempt = attempt === current.attempt;
    if (attempt < current.attempt && !ordered) return undefined;
    if (!ordered && sameAttempt && STATE_RANK[update.state] < STATE_RANK[current.state]) return undefined;
  }
  const terminal = isTerminal(update.state);
  return {
    ...job,
    state: update.state,
    backend: update.backend ?? job.backend,
    attempt: update.attempt ?? job.attempt,
    error: errorText(update.error) ?? (terminal ? job.error : null),
    outputs: update.outputs && update.outputs.length ? update.outputs : job.outputs,
    labels: update.labels ?? job.labels,
    projectId: update.project_id ?? job.projectId,
    runId: update.run_id ?? job.runId,
    graphNodeId: update.graph_node_id ?? job.graphNodeId,
    progress: terminal ? null : job.progress,
    preview: update.state === "succeeded" ? null : job.preview,
    updatedAt: now,
  };
}

function applyMessage(state: LiveState, m: LiveMessage, now: number): LiveState {
  switch (m.type) {
    case "snapshot": {
      let next: LiveState = state;
      if (m.backends) next = applyBackends(next, m.backends);
      for (const metrics of m.metrics ?? []) next = withMetrics(next, metrics);
      if (m.jobs) {
        next = applyJobs(next, m.jobs, now);
        const listed = new Set(m.jobs.map((j) => j.id));
        const missing = Object.values(next.jobs).filter((j) => !isTerminal(j.state) && !listed.has(j.id)).map((j) => j.id);
        const recheck = [...new Set([...next.recheck.filter((id) => !listed.has(id)), ...missing])];
        if (recheck.length || next.recheck.length) next = { ...next, recheck };
      }
      return next;
    }
    case "job": {
      const job = applyJobUpdate(state.jobs[m.job.id], m.job, now, true);
      return job ? { ...state, jobs: { ...state.jobs, [job.id]: job } } : state;
    }
    case "progress": {
      const cur = state.jobs[m.job_id] ?? blankJob(m.job_id, "running", now);
      if (isTerminal(cur.state)) return state;
      const job: LiveJob = {
        ...cur,
        state: cur.state === "running" ? cur.state : "running",
        backend: m.backend_id ?? cur.backend, // where it runs, even for a job whose start this page never saw
        progress: { node_id: m.node_id, value: m.value, max: m.max },
        updatedAt: now,
      };
      return { ...state, jobs: { ...state.jobs, [job.id]: job } };
    }
    case "preview": {
      const cur = state.jobs[m.job_id] ?? blankJob(m.job_id, "running", now);
      if (isTerminal(cur.state)) return state;
      const job: LiveJob = {
        ...cur,
        preview: { node_id: m.node_id, url: `data:${m.content_type};base64,${m.data_b64}` },
        updatedAt: now,
      };
      return { ...state, jobs: { ...state.jobs, [job.id]: job } };
    }
    case "metrics":
      return withMetrics(state, m);
    case "backend": {
      const b = ("backend" in m && m.backend ? m.backend : m) as Partial<Backend> & { id?: string };
      if (!b.id) return state;
      const prev = state.backends[b.id] ?? blankBackend(b.id);
      const merged: Backend = { ...prev, ...b, id: b.id, metrics: b.metrics ?? prev.metrics ?? null };
      return { ...state, backends: { ...state.backends, [b.id]: merged } };
    }
    default:
      return state;
  }
}

function blankBackend(id: string): Backend {
  return {
    id,
    comfy_url: "",
    status: "offline",
    capabilities: {},
    queued_jobs: 0,
    running_jobs: 0,
    jobs_completed: 0,
    last_seen: null,
    metrics: null,
  };
}

function applyBackends(state: LiveState, backends: Backend[]): LiveState {
  const next: Record<string, Backend> = {};
  for (const b of backends) {
    next[b.id] = { ...blankBackend(b.id), ...b, capabilities: b.capabilities ?? {}, metrics: b.metrics ?? state.backends[b.id]?.metrics ?? null };
  }
  let s: LiveState = { ...state, backends: next };
  for (const b of backends) if (b.metrics) s = withMetrics(s, b.metrics);
  return s;
}

function applyJobs(state: LiveState, jobs: Job[], now: number): LiveState {
  const map = { ...state.jobs };
  for (const j of jobs) {
    const attempt = Math.max(0, ...(j.attempts ?? []).map((a) => Number(a.attempt ?? 0)));
    const cur = map[j.id];
    const next = applyJobUpdate(cur, { ...j, attempt }, now);
    if (next) map[j.id] = next;
  }
  return { ...state, jobs: map };
}

export function liveReducer(state: LiveState, action: LiveAction): LiveState {
  switch (action.type) {
    case "connection":
      return state.connected === action.connected ? state : { ...state, connected: action.connected };
    case "backends":
      return applyBackends(state, action.backends);
    case "jobs":
      return applyJobs(state, action.jobs, action.now ?? Date.now());
    case "rechecked": {
      const done = new Set(action.ids);
      return { ...state, recheck: state.recheck.filter((id) => !done.has(id)) };
    }
    case "messages": {
      const now = action.now ?? Date.now();
      return coalesce(action.messages).reduce((s, m) => applyMessage(s, m, now), state);
    }
  }
}

/**
 * Jobs finished in the last minute of the metrics history; over a shorter history, the jobs finished in it
 * (never extrapolated). Null until two samples exist.
 */
export function jobsPerMinute(history: MetricsSample[]): number | null {
  if (history.length < 2) return null;
  const last = history[history.length - 1];
  const from = history.find((s) => last.at - s.at <= 60_000) ?? history[0];
  return Math.max(0, last.jobsCompleted - from.jobsCompleted);
}
