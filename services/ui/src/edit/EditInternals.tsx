/**
 * Edit a node's workflow in the real ComfyUI editor of a server, served same-origin at `/backends/{id}/comfy/`.
 *
 * The node's UI workflow is loaded with `app.loadGraphData` (an API-only workflow with `app.loadApiJson`) once the
 * frontend's `app` is ready; "Save back" takes `app.graphToPrompt()` — the frontend's own conversion — and stores
 * both formats on the node, then re-inspects its parameters.
 *
 * A fresh editor greets a first visit with its "Get Started with a Template" gallery over the graph; before the
 * iframe loads, the server's own setting `Comfy.TutorialCompleted` is set (ComfyUI `POST /api/settings`), so the
 * editor starts as it would for a returning user.
 */
import { useEffect, useRef, useState } from "react";
import { stringifyJson, type JsonObject } from "../api/rawJson";
import type { Parameter } from "../api/types";
import { useLive } from "../live/LiveProvider";
import { useWorkspace } from "../project/WorkspaceProvider";

interface GraphNode {
  inputs?: { name: string; link: number | null }[];
  connect: (slot: number, target: GraphNode, targetInput: string) => unknown;
}

interface ComfyApp {
  graph?: { getNodeById: (id: number | string) => GraphNode | null | undefined };
  loadGraphData: (workflow: unknown, clean?: boolean) => Promise<void> | void;
  loadApiJson?: (api: unknown, fileName: string) => Promise<void> | void;
  graphToPrompt: () => Promise<{ workflow: JsonObject; output: JsonObject }>;
}

type Frame = Window & { app?: ComfyApp };

/** Resolve with the editor's `app` once it exists and has a graph (polls; gives up after `timeoutMs`). */
export function waitForComfyApp(frame: () => Frame | null | undefined, timeoutMs = 60_000): Promise<ComfyApp> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      let app: ComfyApp | undefined;
      try {
        app = frame()?.app;
      } catch {
        /* not same-origin yet (about:blank → proxy) */
      }
      if (app && app.graph && typeof app.loadGraphData === "function") resolve(app);
      else if (Date.now() - started > timeoutMs) reject(new Error("the ComfyUI editor did not start"));
      else setTimeout(tick, 250);
    };
    tick();
  });
}

function inputOf(prompt: JsonObject, p: Parameter): unknown {
  const node = prompt[p.node_id] as { inputs?: Record<string, unknown> } | undefined;
  return node?.inputs?.[p.input];
}

/**
 * Draw the links of an API prompt the editor loaded without them (its API loader can leave nodes unconnected):
 * every input that is a `[source_id, output_index]` pair and has no link yet gets connected by input name.
 */
export function linkApiInputs(app: ComfyApp, prompt: JsonObject): number {
  const graph = app.graph;
  if (!graph) return 0;
  const byId = (id: string) => graph.getNodeById(Number(id)) ?? graph.getNodeById(id) ?? null;
  let made = 0;
  for (const [id, raw] of Object.entries(prompt)) {
    const target = byId(id);
    const inputs = (raw as { inputs?: Record<string, unknown> } | null)?.inputs ?? {};
    if (!target) continue;
    for (const [name, value] of Object.entries(inputs)) {
      if (!Array.isArray(value) || value.length !== 2 || typeof value[0] !== "string") continue;
      if (target.inputs?.find((i) => i.name === name)?.link != null) continue;
      const source = byId(value[0]);
      if (source && source.connect(Number(value[1]), target, name)) made++;
    }
  }
  return made;
}

/** Whether the editor's graph has the nodes of the workflow we loaded (and not, say, its default graph). */
function holdsWorkflow(app: ComfyApp, ui: JsonObject | null, api: JsonObject): boolean {
  const graph = app.graph;
  if (!graph) return false;
  const ids = ui && Array.isArray(ui.nodes) ? (ui.nodes as { id?: unknown }[]).map((n) => String(n.id)) : Object.keys(api);
  return ids.length > 0 && ids.every((id) => Boolean(graph.getNodeById(Number(id)) ?? graph.getNodeById(id)));
}

/** Tell a server's editor that its first-visit tutorial is done (its template gallery then stays closed). */
export async function markTutorialCompleted(backend: string): Promise<void> {
  const res = await fetch(`/backends/${encodeURIComponent(backend)}/comfy/api/settings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ "Comfy.TutorialCompleted": true }),
  });
  if (!res.ok) throw new Error(`${res.status} setting Comfy.TutorialCompleted on ${backend}`);
}

// Plain JSON for the editor: it does not know bigint; the API prompt we get back carries its own numbers.
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? Number(x) : x)));

export function EditInternals({ nodeId, onClose }: { nodeId: string; onClose: () => void }) {
  const ws = useWorkspace();
  const live = useLive();
  const node = ws.project.doc.nodes.find((n) => n.id === nodeId);
  const [backend, setBackend] = useState(() => ws.backendFor(node) ?? Object.keys(live.state.backends)[0] ?? "");
  const [status, setStatus] = useState("loading the editor…");
  const [app, setApp] = useState<ComfyApp | null>(null);
  const frameRef = useRef<HTMLIFrameElement>(null);
  const [settled, setSettled] = useState<string | null>(null); // the backend whose editor settings are written

  useEffect(() => {
    if (!backend) return;
    let alive = true;
    setSettled(null);
    markTutorialCompleted(backend)
      .catch(() => undefined) // an editor without the setting still works, with its gallery to close by hand
      .finally(() => alive && setSettled(backend));
    return () => {
      alive = false;
    };
  }, [backend]);

  useEffect(() => {
    if (!node || !backend || settled !== backend) return;
    let alive = true;
    setApp(null);
    setStatus("loading the editor…");
    waitForComfyApp(() => frameRef.current?.contentWindow as Frame | null)
      .then(async (a) => {
        if (!alive) return;
        if (!node.workflow_ui && !a.loadApiJson) throw new Error("this editor cannot load an API-format workflow");
        // A freshly started editor may still restore its own last workflow over ours: load until ours stays.
        for (let attempt = 0; attempt < 6 && alive; attempt++) {
          if (node.workflow_ui) await a.loadGraphData(plain(node.workflow_ui), true);
          else {
            await a.loadApiJson!(plain(node.workflow_api), `${node.title}.json`);
            linkApiInputs(a, node.workflow_api);
          }
          await new Promise((r) => setTimeout(r, 700));
          if (holdsWorkflow(a, node.workflow_ui, node.workflow_api)) break;
        }
        setApp(a);
        setStatus("ready");
      })
      .catch((e: Error) => alive && setStatus(e.message));
    return () => {
      alive = false;
    };
  }, [backend, nodeId, settled]);

  if (!node) return null;
  const saveBack = async () => {
    if (!app) return;
    try {
      setStatus("converting…");
      const { workflow, output } = await app.graphToPrompt();
      // An input edited in the editor wins over the canvas's override of it.
      const values = { ...node.values };
      for (const p of node.exposed) {
        if (!(p.id in values)) continue;
        if (stringifyJson(inputOf(node.workflow_api, p)) !== stringifyJson(inputOf(output, p))) delete values[p.id];
      }
      ws.dispatch({ type: "updateNode", id: nodeId, patch: { workflow_ui: workflow, workflow_api: output, values } });
      await ws.reinspect(nodeId, workflow);
      setStatus("saved back to the node");
      onClose();
    } catch (e) {
      setStatus(`save back failed: ${(e as Error).message}`);
    }
  };
  return (
    <div className="modal-backdrop editor-backdrop">
      <div className="modal editor" role="dialog" aria-label="Edit internals" data-testid="edit-internals">
        <header>
          <h3>Edit internals — {node.title}</h3>
          <select value={backend} onChange={(e) => setBackend(e.target.value)} aria-label="server">
            {Object.keys(live.state.backends).map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
          <span className="muted" data-testid="editor-status">
            {status}
          </span>
          <span className="spacer" />
          <button type="button" className="primary" disabled={!app} onClick={() => void saveBack()} data-testid="save-back">
            Save back
          </button>
          <button type="button" onClick={onClose}>
            Close
          </button>
        </header>
        {backend && settled === backend ? (
          <iframe
            ref={frameRef}
            key={backend}
            title="ComfyUI editor"
            data-testid="editor-frame"
            src={`/backends/${encodeURIComponent(backend)}/comfy/`}
          />
        ) : (
          <p className="muted">{backend ? "preparing the editor…" : "No server to edit on."}</p>
        )}
      </div>
    </div>
  );
}
