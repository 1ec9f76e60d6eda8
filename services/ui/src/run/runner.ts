/**
 * Running canvas nodes: each node's patched API prompt becomes one job, in topological order.
 *
 * Edges are honoured here, in the browser, until the scheduler chains jobs itself: a node waits for its upstream
 * jobs, then each upstream artifact is fetched from `/api/artifacts/{id}` and uploaded into the input folder of
 * the servers the node may run on (its pinned server, else every enabled one), and the LoadImage input the edge
 * points at is set to that file.
 */
import { api, ApiError } from "../api/client";
import type { JsonValue } from "../api/rawJson";
import { isTerminal, type Backend, type Inspection, type Job, type ProjectDocument, type ProjectNode } from "../api/types";
import { patchedPrompt, topologicalOrder } from "../project/document";
import type { RunRecord } from "./runStore";

export interface RunContext {
  doc: ProjectDocument;
  projectId: string | null;
  inspections: Record<string, Inspection | undefined>;
  backends: Backend[];
  latestJob: (nodeId: string) => string | undefined;
  onSubmitted: (record: RunRecord) => void;
  log: (text: string, level?: "info" | "error") => void;
  pollMs?: number;
}

/** Poll a job until it ends. A just-submitted job may not be readable yet (404) for a moment: keep asking. */
export async function waitForJob(jobId: string, pollMs = 1000, signal?: AbortSignal, unknownForMs = 60_000): Promise<Job> {
  const started = Date.now();
  for (;;) {
    let job: Job | null = null;
    try {
      job = await api.job(jobId);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404) || Date.now() - started > unknownForMs) throw e;
    }
    if (job && isTerminal(job.state)) return job;
    if (signal?.aborted) throw new Error("stopped");
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

function uploadTargets(node: ProjectNode, backends: Backend[]): string[] {
  if (node.pinned_backend) return [node.pinned_backend];
  return backends.filter((b) => b.status === "online" || b.status === "busy").map((b) => b.id);
}

async function feedInputs(node: ProjectNode, ctx: RunContext, submitted: Map<string, string>): Promise<Record<string, JsonValue>> {
  const overrides: Record<string, JsonValue> = {};
  for (const edge of ctx.doc.edges.filter((e) => e.target === node.id)) {
    const upstreamJob = submitted.get(edge.source) ?? ctx.latestJob(edge.source);
    const upstream = ctx.doc.nodes.find((n) => n.id === edge.source);
    if (!upstreamJob) throw new Error(`"${upstream?.title ?? edge.source}" has not run yet`);
    ctx.log(`${node.title}: waiting for ${upstream?.title ?? edge.source}`);
    const job = await waitForJob(upstreamJob, ctx.pollMs);
    if (job.state !== "succeeded") throw new Error(`upstream "${upstream?.title}" ${job.state}`);
    const outPort = ctx.inspections[edge.source]?.ports.outputs.find((p) => p.id === edge.source_port);
    const inPort = ctx.inspections[node.id]?.ports.inputs.find((p) => p.id === edge.target_port);
    if (!inPort) throw new Error(`input port ${edge.target_port} of "${node.title}" is unknown`);
    const artifact = job.outputs.find((o) => o.node_id === (outPort?.node_id ?? edge.source_port)) ?? job.outputs[0];
    if (!artifact) throw new Error(`upstream "${upstream?.title}" produced no output`);
    const blob = await (await fetch(api.artifactUrl(artifact.artifact_id))).blob();
    const file = new File([blob], `orch_${job.id.slice(0, 8)}_${artifact.filename}`, { type: artifact.content_type });
    const targets = uploadTargets(node, ctx.backends);
    if (!targets.length) throw new Error("no enabled server to upload the upstream image to");
    let name = file.name;
    for (const backend of targets) name = await api.uploadImage(backend, file);
    overrides[`${inPort.node_id}.${inPort.input}`] = name;
  }
  return overrides;
}

/** The nodes to run for a request: those asked for plus every upstream node that has never run. */
export function withNeededUpstream(
  doc: Pick<ProjectDocument, "edges">,
  nodeIds: string[],
  hasRun: (nodeId: string) => boolean,
): Set<string> {
  const wanted = new Set(nodeIds);
  const stack = [...nodeIds];
  while (stack.length) {
    const id = stack.pop()!;
    for (const e of doc.edges) {
      if (e.target === id && !wanted.has(e.source) && !hasRun(e.source)) {
        wanted.add(e.source);
        stack.push(e.source);
      }
    }
  }
  return wanted;
}

/** Submit the given nodes (and wait on upstream ones as needed); resolves when every job is submitted. */
export async function runNodes(nodeIds: string[], ctx: RunContext): Promise<string[]> {
  const wanted = withNeededUpstream(ctx.doc, nodeIds, (id) => ctx.latestJob(id) !== undefined);
  for (const id of wanted) {
    if (!nodeIds.includes(id)) ctx.log(`${ctx.doc.nodes.find((n) => n.id === id)?.title ?? id}: runs first, it feeds the selection`);
  }
  const order = topologicalOrder(ctx.doc, wanted);
  const submitted = new Map<string, string>();
  const jobIds: string[] = [];
  for (const id of order) {
    const node = ctx.doc.nodes.find((n) => n.id === id)!;
    try {
      const overrides = await feedInputs(node, ctx, submitted);
      const prompt = patchedPrompt(node, overrides);
      const labels: Record<string, string> = { canvas_node: id, canvas_title: node.title };
      if (ctx.projectId) labels.project = ctx.projectId;
      const { id: jobId } = await api.submitJob(prompt, node.pinned_backend, labels);
      submitted.set(id, jobId);
      jobIds.push(jobId);
      ctx.onSubmitted({
        jobId,
        nodeId: id,
        projectId: ctx.projectId,
        title: node.title,
        values: node.values,
        prompt,
        backend: node.pinned_backend,
        submittedAt: Date.now(),
      });
      ctx.log(`${node.title}: submitted job ${jobId}`);
    } catch (e) {
      ctx.log(`${node.title}: ${(e as Error).message}`, "error");
    }
  }
  return jobIds;
}
