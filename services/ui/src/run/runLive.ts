/**
 * The scheduler's runs followed from the live stream. Every `job` message of a run's job names its project, run,
 * graph node and item, so the job is mapped to its canvas node the moment it is submitted, and the followed run's
 * view is patched in place (node, item and run states by the scheduler's own rules, see `combine`).
 *
 * `GET /api/runs/{id}` is read again only for what the stream cannot say (`wanted` runs):
 * - a run this browser does not hold yet (just started here, or started elsewhere on the open project);
 * - a job of an item or node the held view lacks;
 * - a job that failed or was cancelled: the states of the nodes without a job (blocked, cancelled) follow from the
 *   run's edges, which only the scheduler holds;
 * - a run's item retry or cancellation, and every (re)connect (the snapshot), for what happened while away.
 */
import { isTerminal, runIsOver, type Job, type JobState, type LiveMessage, type RunItem, type RunItemNode, type RunPhase, type RunView } from "../api/types";

/** Which run, graph node and item a job belongs to. */
export interface RunLink {
  runId: string;
  nodeId: string;
  item: number | null;
  projectId: string | null;
}

/** The parts of a job (a live `job` message, a snapshot entry, a REST answer) the runs read. */
export type RunJob = Pick<Job, "id" | "state"> &
  Partial<Pick<Job, "outputs" | "labels" | "run_id" | "graph_node_id" | "project_id">> & { error?: unknown };

const JOB_STATES: ReadonlySet<string> = new Set(["queued", "scheduled", "running", "succeeded", "failed", "cancelled"]);
const RANK: Record<JobState, number> = { queued: 0, scheduled: 1, running: 2, succeeded: 3, failed: 3, cancelled: 3 };
const UNFINISHED: ReadonlySet<string> = new Set(["pending", "queued", "scheduled", "running"]);

export function runLinkOf(job: RunJob): RunLink | null {
  if (!job.run_id || !job.graph_node_id) return null;
  const item = Number.parseInt(job.labels?.item ?? "", 10);
  return { runId: job.run_id, nodeId: job.graph_node_id, item: Number.isNaN(item) ? null : item, projectId: job.project_id ?? null };
}

/** The scheduler's rule: pending while nothing started, running while anything is unfinished, then failed > cancelled > succeeded. */
export function combine(states: string[]): RunPhase {
  if (states.length && states.every((s) => s === "pending")) return "pending";
  if (states.some((s) => UNFINISHED.has(s))) return "running";
  if (states.some((s) => s === "failed" || s === "blocked")) return "failed";
  if (states.some((s) => s === "cancelled")) return "cancelled";
  return "succeeded";
}

/** `view` with item `index`'s node replaced, and the item's and run's states derived again. */
function withNode(view: RunView, index: number, nodeId: string, node: RunItemNode): RunView {
  const items = [...(view.items ?? [])];
  const nodes = { ...items[index].nodes, [nodeId]: node };
  items[index] = { ...items[index], nodes, state: combine(Object.values(nodes).map((n) => n.state)) };
  const byState: Record<string, number> = {};
  for (const it of items) byState[it.state] = (byState[it.state] ?? 0) + 1;
  const state: RunPhase = view.error ? "failed" : combine(items.map((it) => it.state));
  return { ...view, items, state, items_by_state: byState };
}

function sameOutputs(a: Job["outputs"], b: Job["outputs"]): boolean {
  return a.length === b.length && a.every((o, i) => o.artifact_id === b[i].artifact_id);
}

function itemIndex(view: RunView, item: number | null): number {
  return item === null ? -1 : (view.items ?? []).findIndex((it) => it.item === item);
}

/**
 * Fold one job of the run into its view. `mapped` is false when the view has no such item or node (read the run
 * again); the view itself comes back unchanged (the same object) when the job tells it nothing new.
 */
export function patchRunView(view: RunView, job: RunJob, link: RunLink): { view: RunView; mapped: boolean } {
  const index = itemIndex(view, link.item);
  const node = index < 0 ? undefined : view.items?.[index].nodes[link.nodeId];
  if (!node) return { view, mapped: false };
  const known = node.jobs.includes(job.id);
  if (known && node.jobs[node.jobs.length - 1] !== job.id) return { view, mapped: true }; // an earlier job of the node
  // A node whose latest job ended but whose item was retried is `pending` in the scheduler's view: keep that.
  if (known && !JOB_STATES.has(node.state)) return { view, mapped: true };
  const jobs = known ? node.jobs : [...node.jobs, job.id];
  const outputs = job.outputs?.length && !sameOutputs(job.outputs, node.outputs) ? job.outputs : known ? node.outputs : [];
  const error = job.state === "failed" ? (job.error ?? node.error) : null;
  if (known && node.state === job.state && outputs === node.outputs && error === node.error) return { view, mapped: true };
  return { view: withNode(view, index, link.nodeId, { ...node, state: job.state, jobs, outputs, error }), mapped: true };
}

/**
 * A view just read over REST, brought up to what the live stream already said: a node's latest job the live store
 * holds further on (a higher state rank) takes the live state, and a node the held view knows a newer job of keeps
 * the held node (the read raced a submission).
 */
export function freshen(fetched: RunView, held: RunView | undefined, live: Record<string, { state: JobState; outputs: Job["outputs"] }>): RunView {
  let view = fetched;
  (fetched.items ?? []).forEach((item: RunItem, index) => {
    const heldItem = held?.items?.find((it) => it.item === item.item);
    for (const [nodeId, node] of Object.entries(item.nodes)) {
      const heldNode = heldItem?.nodes[nodeId];
      if (heldNode && heldNode.jobs.length > node.jobs.length && node.jobs.every((j, i) => heldNode.jobs[i] === j)) {
        view = withNode(view, index, nodeId, heldNode);
        continue;
      }
      const latest = node.jobs[node.jobs.length - 1];
      const job = latest === undefined ? undefined : live[latest];
      if (!job || !JOB_STATES.has(node.state) || isTerminal(node.state as JobState)) continue;
      if (RANK[job.state] > RANK[node.state as JobState]) {
        const outputs = job.outputs.length ? job.outputs : node.outputs;
        view = withNode(view, index, nodeId, { ...node, state: job.state, outputs });
      }
    }
  });
  return view;
}

/** The runs to read again after `messages`, and the jobs to fold (see the module docstring). */
export interface LiveRunUpdate {
  jobs: { job: RunJob; link: RunLink }[];
  /** runs whose `run` message or reconnect asks for a read */
  wanted: string[];
}

/**
 * What a batch of live messages says about runs: the run jobs to fold (of a held run, or of the open project's
 * runs), and the runs to read again for their request, retry or cancellation and on every snapshot.
 */
export function runUpdates(messages: LiveMessage[], held: Record<string, RunView>, projectId: string | null): LiveRunUpdate {
  const jobs: LiveRunUpdate["jobs"] = [];
  const wanted: string[] = [];
  const ours = (runId: string, project: string | null) => runId in held || (projectId !== null && project === projectId);
  const take = (job: RunJob) => {
    const link = runLinkOf(job);
    if (link && ours(link.runId, link.projectId)) jobs.push({ job, link });
  };
  for (const m of messages) {
    if (m.type === "job") take(m.job);
    else if (m.type === "run") {
      if (ours(m.run.id, m.run.project_id)) wanted.push(m.run.id);
    } else if (m.type === "snapshot") {
      for (const j of m.jobs ?? []) take(j);
      for (const r of Object.values(held)) if (!runIsOver(r.state)) wanted.push(r.id);
    }
  }
  return { jobs, wanted };
}
