/**
 * What this browser submitted: which job ran which canvas node with which values (the API's job does not know
 * canvas nodes). Kept in localStorage so a reload finds its running jobs again.
 */
import { parseJson, stringifyJson, type JsonObject, type JsonValue } from "../api/rawJson";

export interface RunRecord {
  jobId: string;
  nodeId: string;
  projectId: string | null;
  title: string;
  values: Record<string, JsonValue>;
  prompt: JsonObject;
  backend: string | null;
  submittedAt: number;
}

export interface RunState {
  records: RunRecord[]; // newest first
  log: { at: number; text: string; level: "info" | "error" }[];
}

export type RunAction =
  | { type: "submitted"; record: RunRecord }
  | { type: "log"; text: string; level?: "info" | "error"; at?: number }
  | { type: "clearLog" };

const MAX_RECORDS = 200;
const MAX_LOG = 300;
export const RUNS_KEY = "orch.runs.v1";

export function loadRuns(storage: Storage | undefined = globalThis.localStorage): RunState {
  try {
    const raw = storage?.getItem(RUNS_KEY);
    if (raw) return { records: parseJson(raw) as unknown as RunRecord[], log: [] };
  } catch {
    /* a broken entry starts afresh */
  }
  return { records: [], log: [] };
}

export function saveRuns(state: RunState, storage: Storage | undefined = globalThis.localStorage): void {
  try {
    storage?.setItem(RUNS_KEY, stringifyJson(state.records.slice(0, MAX_RECORDS)));
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
