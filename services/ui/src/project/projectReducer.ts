/**
 * The project store: the document the canvas edits, plus what React Flow needs to draw it (measured sizes,
 * selection) and what inspection told us about each node (all parameters, ports, capability) — the latter two
 * are not saved.
 */
import { applyEdgeChanges, applyNodeChanges, type EdgeChange, type NodeChange } from "@xyflow/react";
import type { JsonValue } from "../api/rawJson";
import type { Inspection, ProjectDocument, ProjectEdge, ProjectNode, ProjectView } from "../api/types";
import type { CanvasEdge, CanvasNode } from "../canvas/types";
import { emptyProject, newId, reconcileExposed } from "./document";

export interface NodeUi {
  measured?: { width?: number; height?: number };
  selected?: boolean;
  dragging?: boolean;
}

export interface ProjectState {
  id: string | null;
  doc: ProjectDocument;
  /** bumps on every change of the document (not of selection or sizes); autosave watches it */
  revision: number;
  savedRevision: number;
  /** bumps on every load (open, new, import), so a save that ends after the user moved on is not credited to the next project */
  loads: number;
  ui: Record<string, NodeUi>;
  selectedEdges: string[];
  inspections: Record<string, Inspection>;
}

export type ProjectAction =
  | { type: "load"; id: string | null; doc: ProjectDocument }
  /** a save of the document as it was at `revision` of the project loaded `loads`-th ended well */
  | { type: "saved"; id: string; revision: number; loads: number }
  /** the document differs from what the server holds (a restored local draft): save it again */
  | { type: "touch" }
  | { type: "rename"; name: string }
  | { type: "addNode"; node: ProjectNode; inspection?: Inspection }
  | { type: "updateNode"; id: string; patch: Partial<ProjectNode> }
  | { type: "inspected"; id: string; inspection: Inspection; reconcile?: boolean }
  | { type: "setValue"; id: string; param: string; value: JsonValue }
  | { type: "removeNodes"; ids: string[] }
  | { type: "duplicateNode"; id: string; newId?: string }
  | { type: "nodeChanges"; changes: NodeChange<CanvasNode>[] }
  | { type: "edgeChanges"; changes: EdgeChange<CanvasEdge>[] }
  | { type: "addEdge"; edge: ProjectEdge }
  | { type: "setView"; view: ProjectView }
  | { type: "select"; ids: string[] };

export const initialProjectState: ProjectState = {
  id: null,
  doc: emptyProject(),
  revision: 0,
  savedRevision: 0,
  loads: 0,
  ui: {},
  selectedEdges: [],
  inspections: {},
};

export function toCanvasNodes(state: ProjectState): CanvasNode[] {
  return state.doc.nodes.map((n) => {
    const ui = state.ui[n.id] ?? {};
    return {
      id: n.id,
      type: "workflow",
      position: { x: n.position[0], y: n.position[1] },
      data: { node: n, inspection: state.inspections[n.id] },
      ...(ui.measured ? { measured: ui.measured } : {}),
      selected: ui.selected ?? false,
      dragging: ui.dragging ?? false,
    };
  });
}

export function toCanvasEdges(state: ProjectState): CanvasEdge[] {
  const selected = new Set(state.selectedEdges);
  return state.doc.edges.map((e) => ({
    id: e.id,
    source: e.source,
    sourceHandle: `out:${e.source_port}`,
    target: e.target,
    targetHandle: `in:${e.target_port}`,
    data: { kind: e.kind },
    className: `edge-kind-${String(e.kind).toLowerCase()}`,
    selected: selected.has(e.id),
  }));
}

const changed = (state: ProjectState, doc: ProjectDocument): ProjectState => ({
  ...state,
  doc,
  revision: state.revision + 1,
});

function withNodes(state: ProjectState, nodes: ProjectNode[], edges = state.doc.edges): ProjectState {
  return changed(state, { ...state.doc, nodes, edges });
}

export function projectReducer(state: ProjectState, action: ProjectAction): ProjectState {
  switch (action.type) {
    case "load": {
      const selection = new Set(action.doc.view?.selection ?? []);
      const ui: Record<string, NodeUi> = {};
      for (const n of action.doc.nodes) ui[n.id] = { selected: selection.has(n.id) };
      return { ...initialProjectState, id: action.id, doc: action.doc, ui, loads: state.loads + 1 };
    }
    case "saved":
      if (action.loads !== state.loads) return state;
      return { ...state, id: action.id, savedRevision: Math.max(state.savedRevision, action.revision) };
    case "touch":
      return { ...state, revision: state.revision + 1 };
    case "rename":
      return changed(state, { ...state.doc, name: action.name });
    case "addNode": {
      const ui = { ...state.ui };
      for (const id of Object.keys(ui)) ui[id] = { ...ui[id], selected: false };
      ui[action.node.id] = { selected: true };
      const next = withNodes({ ...state, ui }, [...state.doc.nodes, action.node]);
      return action.inspection ? { ...next, inspections: { ...next.inspections, [action.node.id]: action.inspection } } : next;
    }
    case "updateNode":
      return withNodes(
        state,
        state.doc.nodes.map((n) => (n.id === action.id ? { ...n, ...action.patch, id: n.id } : n)),
      );
    case "inspected": {
      const next = { ...state, inspections: { ...state.inspections, [action.id]: action.inspection } };
      if (!action.reconcile) return next;
      return withNodes(
        next,
        state.doc.nodes.map((n) => (n.id === action.id ? { ...n, ...reconcileExposed(n, action.inspection.parameters) } : n)),
      );
    }
    case "setValue":
      return withNodes(
        state,
        state.doc.nodes.map((n) =>
          n.id === action.id ? { ...n, values: { ...n.values, [action.param]: action.value } } : n,
        ),
      );
    case "removeNodes": {
      const gone = new Set(action.ids);
      if (!state.doc.nodes.some((n) => gone.has(n.id))) return state;
      return withNodes(
        state,
        state.doc.nodes.filter((n) => !gone.has(n.id)),
        state.doc.edges.filter((e) => !gone.has(e.source) && !gone.has(e.target)),
      );
    }
    case "duplicateNode": {
      const src = state.doc.nodes.find((n) => n.id === action.id);
      if (!src) return state;
      const copy: ProjectNode = {
        ...structuredClone(src),
        id: action.newId ?? newId("n"),
        title: `${src.title} copy`,
        position: [src.position[0] + 40, src.position[1] + 40],
      };
      const ui: Record<string, NodeUi> = {};
      for (const [id, u] of Object.entries(state.ui)) ui[id] = { ...u, selected: false };
      ui[copy.id] = { selected: true };
      const inspection = state.inspections[src.id];
      const next = withNodes({ ...state, ui }, [...state.doc.nodes, copy]);
      return inspection ? { ...next, inspections: { ...next.inspections, [copy.id]: inspection } } : next;
    }
    case "nodeChanges": {
      const updated = applyNodeChanges(action.changes, toCanvasNodes(state));
      const ui: Record<string, NodeUi> = {};
      for (const n of updated) ui[n.id] = { measured: n.measured, selected: n.selected, dragging: n.dragging };
      const moved = action.changes.some((c) => c.type === "position" && c.position);
      const removed = action.changes.some((c) => c.type === "remove");
      if (!moved && !removed) return { ...state, ui };
      const byId = new Map(updated.map((n) => [n.id, n]));
      const nodes = state.doc.nodes
        .filter((n) => byId.has(n.id))
        .map((n) => {
          const p = byId.get(n.id)!.position;
          return p.x === n.position[0] && p.y === n.position[1] ? n : { ...n, position: [p.x, p.y] as [number, number] };
        });
      const edges = removed ? state.doc.edges.filter((e) => byId.has(e.source) && byId.has(e.target)) : state.doc.edges;
      return withNodes({ ...state, ui }, nodes, edges);
    }
    case "edgeChanges": {
      const updated = applyEdgeChanges(action.changes, toCanvasEdges(state));
      const keep = new Set(updated.map((e) => e.id));
      const selectedEdges = updated.filter((e) => e.selected).map((e) => e.id);
      const removed = state.doc.edges.some((e) => !keep.has(e.id));
      const next = { ...state, selectedEdges };
      return removed ? changed(next, { ...state.doc, edges: state.doc.edges.filter((e) => keep.has(e.id)) }) : next;
    }
    case "addEdge": {
      const edges = state.doc.edges.filter((e) => !(e.target === action.edge.target && e.target_port === action.edge.target_port));
      return changed(state, { ...state.doc, edges: [...edges, action.edge] });
    }
    case "setView":
      return { ...state, doc: { ...state.doc, view: { ...state.doc.view, ...action.view } } };
    case "select": {
      const ids = new Set(action.ids);
      const ui: Record<string, NodeUi> = {};
      for (const n of state.doc.nodes) ui[n.id] = { ...state.ui[n.id], selected: ids.has(n.id) };
      return { ...state, ui };
    }
  }
}

export function selectedNodeIds(state: ProjectState): string[] {
  return state.doc.nodes.filter((n) => state.ui[n.id]?.selected).map((n) => n.id);
}

/** The document as saved: the current selection goes into its view. */
export function documentForSave(state: ProjectState): ProjectDocument {
  return { ...state.doc, view: { ...state.doc.view, selection: selectedNodeIds(state) } };
}
