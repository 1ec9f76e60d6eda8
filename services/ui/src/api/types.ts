/**
 * The API's wire shapes, mirrored in one place. Field names that may still shift on the server side are only
 * read here and in `client.ts`; the rest of the UI uses these types.
 */
import type { JsonObject, JsonValue } from "./rawJson";

export type BackendStatus = "online" | "busy" | "offline" | "disabled";
export type JobState = "queued" | "scheduled" | "running" | "succeeded" | "failed" | "cancelled";
export const TERMINAL_STATES: ReadonlySet<JobState> = new Set(["succeeded", "failed", "cancelled"]);
export const isTerminal = (s: JobState | undefined): boolean => s !== undefined && TERMINAL_STATES.has(s);

export interface GpuMetrics {
  index: number;
  name: string | null;
  utilization: number | null;
  vram_used: number | null;
  vram_total: number | null;
  temperature: number | null;
}

export interface BackendMetrics {
  backend_id: string;
  at: string;
  reachable: boolean;
  queue_remaining: number;
  running_prompt_id: string | null;
  running_job_id: string | null;
  running_node: string | null;
  progress: number | null;
  jobs_completed: number;
  gpus: GpuMetrics[];
  ram_total: number | null;
  ram_free: number | null;
}

export interface BackendCapabilities {
  node_classes?: string[];
  models?: Record<string, string[]>;
  gpu_name?: string | null;
  vram_total?: number | null;
  [key: string]: unknown;
}

export interface Backend {
  id: string;
  comfy_url: string;
  status: BackendStatus;
  capabilities: BackendCapabilities;
  queued_jobs: number;
  /** the ids of the jobs running there (older API builds sent a count) */
  running_jobs: string[] | number;
  jobs_completed: number;
  last_seen: string | null;
  metrics: BackendMetrics | null;
}

export type ArtifactKind = "image" | "mask" | "video" | "text" | "audio" | "latent" | "file";

export interface JobOutput {
  artifact_id: string;
  node_id: string;
  filename: string;
  subfolder: string;
  type: string;
  kind: ArtifactKind | string;
  content_type: string;
  text?: string;
}

export interface JobAttempt {
  attempt?: number;
  backend?: string | null;
  state?: string;
  error?: string | null;
  [key: string]: unknown;
}

export interface Job {
  id: string;
  state: JobState;
  attempts: JobAttempt[];
  backend: string | null;
  timings: Record<string, string | number | null>;
  /** a string, or `{reason, message, node_id, node_type}`; shown through `errorText` */
  error: unknown;
  outputs: JobOutput[];
  labels: Record<string, string>;
  workflow?: JsonObject;
  /** set on a run's jobs: the project, run and graph node (its item is `labels.item`) */
  project_id?: string | null;
  run_id?: string | null;
  graph_node_id?: string | null;
}

export interface JobEvent {
  type: string;
  occurred_at?: string;
  at?: string;
  [key: string]: unknown;
}

export type ParameterType = "INT" | "FLOAT" | "STRING" | "BOOLEAN" | "COMBO" | "IMAGE";

/** One tunable input of a workflow, as `/api/workflows/inspect` reports it. */
export interface Parameter {
  id: string;
  node_id: string;
  input: string;
  label: string;
  node_title: string | null;
  class_type: string;
  type: ParameterType;
  value: JsonValue;
  default?: JsonValue;
  min?: number | bigint | null;
  max?: number | bigint | null;
  step?: number | null;
  round?: number | boolean | null;
  choices?: string[] | null;
  multiline?: boolean;
  dynamic_prompts?: boolean;
  suggested?: boolean;
  image_upload?: boolean;
}

export type PortKind = "IMAGE" | "MASK" | "VIDEO" | "LATENT" | "STRING" | string;

export interface InputPort {
  id: string;
  node_id: string;
  input: string;
  kind: PortKind;
  label: string;
}

export interface OutputPort {
  id: string;
  node_id: string;
  kind: PortKind;
  label: string;
}

export interface CapabilityReport {
  ok: boolean;
  missing_classes: string[];
  missing_values: unknown[];
}

export interface Inspection {
  format: "ui" | "api";
  api: JsonObject;
  parameters: Parameter[];
  ports: { inputs: InputPort[]; outputs: OutputPort[] };
  capability: Record<string, CapabilityReport>;
}

export interface RetryPolicy {
  max_attempts?: number;
  [key: string]: unknown;
}

export interface ProjectNode {
  id: string;
  title: string;
  workflow_api: JsonObject;
  workflow_ui: JsonObject | null;
  exposed: Parameter[];
  values: Record<string, JsonValue>;
  pinned_backend: string | null;
  retry: RetryPolicy;
  position: [number, number];
  source: JsonObject;
  /** Ports are derived from inspection; kept on the node so the canvas can draw them without re-inspecting. */
  ports?: { inputs: InputPort[]; outputs: OutputPort[] };
}

export interface ProjectEdge {
  id: string;
  source: string;
  source_port: string;
  target: string;
  target_port: string;
  kind: PortKind;
}

export interface ProjectView {
  viewport?: { x: number; y: number; zoom: number };
  selection?: string[];
}

export interface ProjectDocument {
  format: "comfyui-orchestrator-project";
  format_version: 1;
  name: string;
  nodes: ProjectNode[];
  edges: ProjectEdge[];
  view: ProjectView;
}

export interface ProjectSummary {
  id: string;
  name: string;
  version?: number;
  updated_at?: string;
}

export interface ProjectVersion {
  version: number;
  saved_at?: string;
  at?: string;
  restored_from?: number | null;
  name?: string;
}

/** Messages on the `/api/live` websocket. Unknown types are ignored by the store. */
export type LiveMessage =
  | { type: "snapshot"; backends?: Backend[]; jobs?: Job[]; metrics?: BackendMetrics[] }
  | { type: "job"; job: Omit<Partial<Job>, "error"> & { id: string; state: JobState; attempt?: number; error?: unknown } }
  | {
      type: "progress";
      job_id: string;
      node_id: string | null;
      value: number;
      max: number;
      nodes?: Record<string, unknown>;
      sent_at?: number;
      backend_id?: string;
      attempt?: number;
    }
  | { type: "preview"; job_id: string; node_id: string | null; content_type: string; data_b64: string; backend_id?: string }
  | ({ type: "metrics" } & BackendMetrics)
  | { type: "backend"; backend: Backend }
  | ({ type: "backend" } & Backend)
  | { type: "run"; run: RunEventMessage };

/** A run's request, item retry or cancellation on the live stream (its jobs come as `job` messages). */
export interface RunEventMessage {
  id: string;
  /** null when the run was requested before the API started */
  project_id: string | null;
  event: "requested" | "item_retry_requested" | "cancellation_requested" | string;
  item: number | null;
}

export interface SavedWorkflow {
  backend: string;
  name: string;
}

export interface TemplateEntry {
  backend: string;
  module: string;
  name: string;
  title: string;
  description?: string;
}

/** One axis of a sweep: an exposed parameter id of a node (or `<api node>.<input>`) over values or a range. */
export interface SweepAxis {
  node: string;
  parameter: string;
  values?: JsonValue[];
  range?: { start: number; stop: number; step: number };
}

export interface Sweep {
  axes: SweepAxis[];
  mode: "grid" | "zip";
  repeat: number;
  vary_seeds: boolean;
}

export type RunPhase = "pending" | "running" | "succeeded" | "failed" | "cancelled";
export type RunNodeState = JobState | "pending" | "blocked";

export interface RunItemNode {
  state: RunNodeState;
  jobs: string[];
  outputs: JobOutput[];
  error: unknown;
}

export interface RunItem {
  item: number;
  state: RunPhase;
  values: { node: string; parameter: string; value: JsonValue }[];
  seed_offset?: number;
  nodes: Record<string, RunItemNode>;
}

/** `GET /api/runs/{id}` (a summary in `GET /api/projects/{id}/runs` has no `items`). */
export interface RunView {
  id: string;
  project_id: string;
  project_version: number;
  state: RunPhase;
  created_at?: string;
  nodes: string[];
  borrowed?: Record<string, string>;
  items_total: number;
  items_by_state?: Record<string, number>;
  cancel_requested?: boolean;
  error: unknown;
  items?: RunItem[];
}

export const runIsOver = (s: RunPhase | undefined): boolean => s === "succeeded" || s === "failed" || s === "cancelled";
