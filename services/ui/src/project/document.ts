/** Building and patching project documents: new nodes from an inspection, the prompt a node runs. */
import type { JsonObject, JsonValue } from "../api/rawJson";
import type { Inspection, Parameter, ProjectDocument, ProjectNode } from "../api/types";

export function emptyProject(name = "Untitled project"): ProjectDocument {
  return { format: "comfyui-orchestrator-project", format_version: 1, name, nodes: [], edges: [], view: {} };
}

export function newId(prefix: string): string {
  const rnd =
    typeof crypto !== "undefined" && "randomUUID" in crypto
      ? crypto.randomUUID().slice(0, 8)
      : Math.random().toString(36).slice(2, 10);
  return `${prefix}${rnd}`;
}

/** A canvas node for an inspected workflow; the inspector's suggested parameters are exposed. */
export function nodeFromInspection(
  inspection: Inspection,
  original: JsonObject,
  title: string,
  position: [number, number],
  source: JsonObject,
): ProjectNode {
  return {
    id: newId("n"),
    title,
    workflow_api: inspection.api,
    workflow_ui: inspection.format === "ui" ? original : null,
    exposed: inspection.parameters.filter((p) => p.suggested),
    values: {},
    pinned_backend: null,
    retry: {},
    position,
    source,
  };
}

export function parameterValue(node: ProjectNode, p: Parameter): JsonValue {
  return p.id in node.values ? node.values[p.id] : p.value;
}

function cloneJson<T>(v: T): T {
  if (Array.isArray(v)) return v.map(cloneJson) as T;
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = cloneJson(x);
    return out as T;
  }
  return v;
}

/** The node's API prompt with its exposed values (and any extra input overrides) written in. */
export function patchedPrompt(node: ProjectNode, overrides: Record<string, JsonValue> = {}): JsonObject {
  const prompt = cloneJson(node.workflow_api);
  const set = (nodeId: string, input: string, value: JsonValue) => {
    const target = prompt[nodeId];
    if (!target || typeof target !== "object" || Array.isArray(target)) return;
    const inputs = (target as JsonObject).inputs;
    if (inputs && typeof inputs === "object" && !Array.isArray(inputs)) (inputs as JsonObject)[input] = value;
  };
  for (const p of node.exposed) if (p.id in node.values) set(p.node_id, p.input, node.values[p.id]);
  for (const [key, value] of Object.entries(overrides)) {
    const dot = key.indexOf(".");
    if (dot > 0) set(key.slice(0, dot), key.slice(dot + 1), value);
  }
  return prompt;
}

/** Keep exposed parameters (and their values) that still exist after a re-inspection; refresh their metadata. */
export function reconcileExposed(node: ProjectNode, parameters: Parameter[]): Pick<ProjectNode, "exposed" | "values"> {
  const byId = new Map(parameters.map((p) => [p.id, p]));
  const exposed = node.exposed.map((p) => byId.get(p.id)).filter((p): p is Parameter => p !== undefined);
  const values: Record<string, JsonValue> = {};
  for (const p of exposed) if (p.id in node.values) values[p.id] = node.values[p.id];
  return { exposed: exposed.length ? exposed : parameters.filter((p) => p.suggested), values };
}

/** Nodes in an order where every edge's source comes before its target; throws on a cycle. */
export function topologicalOrder(doc: Pick<ProjectDocument, "nodes" | "edges">, only?: Set<string>): string[] {
  const ids = doc.nodes.map((n) => n.id).filter((id) => !only || only.has(id));
  const want = new Set(ids);
  const indegree = new Map(ids.map((id) => [id, 0]));
  const next = new Map<string, string[]>();
  for (const e of doc.edges) {
    if (!want.has(e.source) || !want.has(e.target)) continue;
    indegree.set(e.target, (indegree.get(e.target) ?? 0) + 1);
    next.set(e.source, [...(next.get(e.source) ?? []), e.target]);
  }
  const ready = ids.filter((id) => indegree.get(id) === 0);
  const order: string[] = [];
  while (ready.length) {
    const id = ready.shift()!;
    order.push(id);
    for (const t of next.get(id) ?? []) {
      indegree.set(t, indegree.get(t)! - 1);
      if (indegree.get(t) === 0) ready.push(t);
    }
  }
  if (order.length !== ids.length) throw new Error("the project's edges form a cycle");
  return order;
}
