import { describe, expect, it } from "vitest";
import type { ProjectNode } from "../api/types";
import { emptyProject } from "./document";
import { documentForSave, initialProjectState, projectReducer, toCanvasEdges, toCanvasNodes, type ProjectState } from "./projectReducer";

const node = (id: string, x = 0): ProjectNode => ({
  id,
  title: id.toUpperCase(),
  workflow_api: {},
  workflow_ui: null,
  exposed: [],
  values: {},
  pinned_backend: null,
  retry: {},
  position: [x, 0],
  source: {},
});

function withTwoConnected(): ProjectState {
  let s = projectReducer(initialProjectState, { type: "load", id: "p1", doc: { ...emptyProject("P"), nodes: [node("a"), node("b", 400)] } });
  s = projectReducer(s, {
    type: "addEdge",
    edge: { id: "e1", source: "a", source_port: "9", target: "b", target_port: "1.image", kind: "IMAGE" },
  });
  return s;
}

describe("project reducer", () => {
  it("draws document nodes and edges with typed handles", () => {
    const s = withTwoConnected();
    expect(toCanvasNodes(s).map((n) => [n.id, n.type, n.position])).toEqual([
      ["a", "workflow", { x: 0, y: 0 }],
      ["b", "workflow", { x: 400, y: 0 }],
    ]);
    expect(toCanvasEdges(s)[0]).toMatchObject({ sourceHandle: "out:9", targetHandle: "in:1.image", data: { kind: "IMAGE" } });
  });

  it("moves nodes in the document and bumps the revision; selecting does not", () => {
    const s = withTwoConnected();
    const moved = projectReducer(s, { type: "nodeChanges", changes: [{ type: "position", id: "a", position: { x: 10, y: 20 } }] });
    expect(moved.doc.nodes[0].position).toEqual([10, 20]);
    expect(moved.revision).toBe(s.revision + 1);
    const selected = projectReducer(moved, { type: "nodeChanges", changes: [{ type: "select", id: "b", selected: true }] });
    expect(selected.revision).toBe(moved.revision);
    expect(documentForSave(selected).view.selection).toEqual(["b"]);
  });

  it("removes a node together with its edges", () => {
    const s = projectReducer(withTwoConnected(), { type: "nodeChanges", changes: [{ type: "remove", id: "a" }] });
    expect(s.doc.nodes.map((n) => n.id)).toEqual(["b"]);
    expect(s.doc.edges).toEqual([]);
  });

  it("duplicates a node beside the original, selected, with a fresh id", () => {
    const s = projectReducer(withTwoConnected(), { type: "duplicateNode", id: "a", newId: "a2" });
    const copy = s.doc.nodes.find((n) => n.id === "a2")!;
    expect(copy.title).toBe("A copy");
    expect(copy.position).toEqual([40, 40]);
    expect(s.ui.a2.selected).toBe(true);
    expect(s.ui.a.selected).toBe(false);
  });

  it("lets a new edge replace the one already feeding the same input", () => {
    let s = projectReducer(withTwoConnected(), { type: "addNode", node: node("c", 800) });
    s = projectReducer(s, {
      type: "addEdge",
      edge: { id: "e2", source: "c", source_port: "9", target: "b", target_port: "1.image", kind: "IMAGE" },
    });
    expect(s.doc.edges.map((e) => e.id)).toEqual(["e2"]);
  });

  it("restores the saved selection on load", () => {
    const s = projectReducer(initialProjectState, {
      type: "load",
      id: "p",
      doc: { ...emptyProject(), nodes: [node("a"), node("b")], view: { selection: ["b"] } },
    });
    expect(toCanvasNodes(s).map((n) => n.selected)).toEqual([false, true]);
  });

  it("credits a save to the project it was made from, not to one opened while it was on the wire", () => {
    const old = projectReducer(projectReducer(initialProjectState, { type: "load", id: "p1", doc: emptyProject("old") }), { type: "rename", name: "old 2" });
    let s = projectReducer(old, { type: "load", id: null, doc: emptyProject("new") });
    s = projectReducer(s, { type: "addNode", node: node("a") });
    const late = projectReducer(s, { type: "saved", id: "p1", revision: old.revision, loads: old.loads });
    expect(late).toBe(s);
    expect(late.id).toBeNull();
    const own = projectReducer(s, { type: "saved", id: "p2", revision: s.revision, loads: s.loads });
    expect([own.id, own.savedRevision]).toEqual(["p2", s.revision]);
  });
});
