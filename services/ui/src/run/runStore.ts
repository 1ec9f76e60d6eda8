/**
 * What this browser submitted: which job ran which canvas node with which values (the API's job does not know
 * canvas nodes). Kept in localStorage so a reload finds its running jobs again.
 */
import { parseJson, stringifyJson, type JsonObject, type JsonValue } from "../api/rawJson";
import type { RunView } from "../api/types";

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
}

export type RunAction =
  | { type: "submitted"; record: RunRecord }
  | { type: "runs"; runs: RunView[] }
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
    if (raw) return { records: parseJson(raw) as unknown as RunRecord[], runs, log: [] };
  } catch {
    /* a broken entry starts afresh */
  }
  return { records: [], runs: {}, log: [] };
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
      for (const run of action.runs) {
        runs[run.id] = run;
        records = withRunJobs(records, run);
      }
      const newest = Object.values(runs)
        .sort((a, b) => String(b.created_at ?? "").localeCompare(String(a.created_at ?? "")))
        .slice(0, MAX_FOLLOWED);
      return { ...state, records, runs: Object.fromEntries(newest.map((r) => [r.id, r])) };
    }
    case "clearLog":
      return { ...state, log: [] };
  }
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
        added.push({
          jobId,
          nodeId,
          projectId: run.project_id,
          title: `${nodeId} · run ${run.id.slice(0, 8)} #${item.item}`,
          values: {},
          prompt: {},
          backend: null,
          submittedAt: Date.now(),
          runId: run.id,
        });
      }
    }
  }
  return added.length ? [...added.reverse(), ...records].slice(0, MAX_RECORDS) : records;
}
