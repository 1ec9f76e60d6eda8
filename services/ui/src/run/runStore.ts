/**
 * What this browser submitted: which job ran which canvas node with which values (the API's job does not know
 * canvas nodes). Kept in localStorage so a reload finds its running jobs again.
 */
import { parseJson, stringifyJson, type JsonObject, type JsonValue } from "../api/rawJson";
import { runIsOver, type Job, type JobState, type LiveMessage, type RunView } from "../api/types";
import { freshen, patchRunView, runUpdates, type RunJob, type RunLink } from "./runLive";

export interface RunRecord {
  jobId: string;
  nodeId: string;
  projectId: string | null;
  title: string;
  values: Record<string, JsonValue>;
  prompt: JsonObject;
  backend: string | null;
  submittedAt: number;
  /** the scheduler's run the job belongs to, when it came from one */
  runId?: string;
}

export interface RunState {
  records: RunRecord[]; // newest first
  /** the scheduler's runs this browser follows, by run id (newest view of each) */
  runs: Record<string, RunView>;
  log: { at: number; text: string; level: "info" | "error" }[];
  /** runs to read again with `GET /api/runs/{id}` (what the live stream cannot say, see `runLive`) */
  refetch: string[];
}

export type LiveJobs = Record<string, { state: JobState; outputs: Job["outputs"] }>;

export type RunAction =
  | { type: "submitted"; record: RunRecord }
  /** views read over REST; `live` (the live store's jobs) brings them up to what the stream already said */
  | { type: "runs"; runs: RunView[]; live?: LiveJobs }
  /** a batch of live messages; `projectId` is the open project, whose runs are followed even when started elsewhere */
  | { type: "live"; messages: LiveMessage[]; projectId: string | null; now?: number }
  | { type: "follow"; runId: string }
  /** these runs' reads have started: take them off `refetch` */
  | { type: "fetching"; ids: string[] }
  | { type: "log"; text: string; level?: "info" | "error"; at?: number }
  | { type: "clearLog" };

const MAX_RECORDS = 200;
const MAX_LOG = 300;
export const RUNS_KEY = "orch.runs.v1";
export const FOLLOWED_KEY = "orch.runs.followed.v1";
const MAX_FOLLOWED = 30;

export function loadRuns(storage: Storage | undefined = globalThis.localStorage): RunState {
  try {
    const raw = storage?.getItem(RUNS_KEY);
    const followed = storage?.getItem(FOLLOWED_KEY);
    const runs = followed ? (parseJson(followed) as unknown as Record<string, RunView>) : {};
    // a reload reads the runs that were not over again (their items are not stored)
    const refetch = Object.values(runs)
      .filter((r) => !runIsOver(r.state))
      .map((r) => r.id);
    if (raw) return { records: parseJson(raw) as unknown as RunRecord[], runs, log: [], refetch };
  } catch {
    /* a broken entry starts afresh */
  }
  return { records: [], runs: {}, log: [], refetch: [] };
}

export function saveRuns(state: RunState, storage: Storage | undefined = globalThis.localStorage): void {
  try {
    storage?.setItem(RUNS_KEY, stringifyJson(state.records.slice(0, MAX_RECORDS)));
    // only the summaries: a reload reads the items again from the API
    const summaries = Object.fromEntries(Object.entries(state.runs).map(([id, r]) => [id, { ...r, items: undefined }]));
    storage?.setItem(FOLLOWED_KEY, stringifyJson(summaries as unknown as JsonValue));
  } catch {
    /* quota: the history is a convenience */
  }
}

export function runReducer(state: RunState, action: RunAction): RunState {
  switch (action.type) {
    case "submitted":
      return {
        ...state,
        records: [action.record, ...state.records.filter((r) => r.jobId !== action.record.jobId)].slice(0, MAX_RECORDS),
      };
    case "log":
      return {
        ...state,
        log: [...state.log, { at: action.at ?? Date.now(), text: action.text, level: action.level ?? "info" }].slice(-MAX_LOG),
      };
    case "runs": {
      let records = state.records;
      const runs = { ...state.runs };
      for (const fetched of action.runs) {
        const run = freshen(fetched, state.runs[fetched.id], action.live ?? {});
        runs[run.id] = run;
        records = withRunJobs(records, run);
      }
      const newest = Object.values(runs)
        .sort((a, b) => String(b.created_at ?? "").localeCompare(String(a.created_at ?? "")))
        .slice(0, MAX_FOLLOWED);
      return { ...state, records, runs: Object.fromEntries(newest.map((r) => [r.id, r])) };
    }
    case "live":
      return foldLive(state, action.messages, action.projectId, action.now ?? Date.now());
    case "follow":
      return { ...state, refetch: wanted(state.refetch, [action.runId]) };
    case "fetching": {
      const started = new Set(action.ids);
      return { ...state, refetch: state.refetch.filter((id) => !started.has(id)) };
    }
    case "clearLog":
      return { ...state, log: [] };
  }
}

function wanted(refetch: string[], ids: string[]): string[] {
  const add = ids.filter((id) => !refetch.includes(id));
  return add.length ? [...refetch, ...new Set(add)] : refetch;
}

function runRecord(jobId: string, nodeId: string, runId: string, projectId: string | null, item: number | null, now: number): RunRecord {
  return {
    jobId,
    nodeId,
    projectId,
    title: `${nodeId} · run ${runId.slice(0, 8)} #${item ?? "?"}`,
    values: {},
    prompt: {},
    backend: null,
    submittedAt: now,
    runId,
  };
}

/**
 * A batch of live messages: each run job of a followed run (or of the open project's runs) becomes its node's
 * newest record the moment it is first seen and patches its run's view; what cannot be patched is read again.
 */
export function foldLive(state: RunState, messages: LiveMessage[], projectId: string | null, now: number): RunState {
  const update = runUpdates(messages, state.runs, projectId);
  if (!update.jobs.length && !update.wanted.length) return state;
  let records = state.records;
  let runs = state.runs;
  const want: string[] = [...update.wanted];
  for (const { job, link } of update.jobs) {
    if (!records.some((r) => r.jobId === job.id)) {
      records = [runRecord(job.id, link.nodeId, link.runId, link.projectId, link.item, now), ...records].slice(0, MAX_RECORDS);
    }
    const held = runs[link.runId];
    if (!held) {
      want.push(link.runId);
      continue;
    }
    const patched = patchRun(held, job, link);
    if (patched.view !== held) runs = { ...runs, [link.runId]: patched.view };
    if (patched.reread) want.push(link.runId);
  }
  const refetch = wanted(state.refetch, want);
  if (records === state.records && runs === state.runs && refetch === state.refetch) return state;
  return { ...state, records, runs, refetch };
}

function patchRun(held: RunView, job: RunJob, link: RunLink): { view: RunView; reread: boolean } {
  const { view, mapped } = patchRunView(held, job, link);
  // a failure or cancellation decides the states of nodes without a job (blocked, cancelled): the scheduler's to say
  const ended = view !== held && (job.state === "failed" || job.state === "cancelled");
  return { view, reread: !mapped || ended };
}

/** The newest job of each canvas node. */
export function latestJobByNode(records: RunRecord[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of records) if (!(r.nodeId in out)) out[r.nodeId] = r.jobId;
  return out;
}

/**
 * Every job of a run as a record of its canvas node, in the order the nodes' latest jobs should win: later items
 * over earlier ones, re-runs over first runs. Jobs already recorded keep their place.
 */
export function withRunJobs(records: RunRecord[], run: RunView): RunRecord[] {
  const known = new Set(records.map((r) => r.jobId));
  const added: RunRecord[] = [];
  for (const item of run.items ?? []) {
    for (const [nodeId, node] of Object.entries(item.nodes)) {
      for (const jobId of node.jobs) {
        if (known.has(jobId) || (run.borrowed ?? {})[nodeId] === jobId) continue;
        known.add(jobId);
        added.push(runRecord(jobId, nodeId, run.id, run.project_id, item.item, Date.now()));
      }
    }
  }
  return added.length ? [...added.reverse(), ...records].slice(0, MAX_RECORDS) : records;
}
