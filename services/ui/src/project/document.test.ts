import { describe, expect, it } from "vitest";
import { parseJson, stringifyJson, type JsonObject } from "../api/rawJson";
import type { Parameter, ProjectNode } from "../api/types";
import { patchedPrompt, reconcileExposed, topologicalOrder } from "./document";

const seedParam: Parameter = {
  id: "3.seed",
  node_id: "3",
  input: "seed",
  label: "seed",
  node_title: "KSampler",
  class_type: "KSampler",
  type: "INT",
  value: 1,
};

const node = (over: Partial<ProjectNode> = {}): ProjectNode => ({
  id: "n1",
  title: "t",
  workflow_api: parseJson('{"3":{"class_type":"KSampler","inputs":{"seed":1,"steps":20,"model":["4",0]}}}') as JsonObject,
  workflow_ui: null,
  exposed: [seedParam],
  values: {},
  pinned_backend: null,
  retry: {},
  position: [0, 0],
  source: {},
  ...over,
});

describe("project documents", () => {
  it("writes exposed values into the prompt, a seed beyond 2^53 digit for digit", () => {
    const n = node({ values: { "3.seed": 18446744073709551615n } });
    const prompt = patchedPrompt(n);
    expect(stringifyJson(prompt)).toBe('{"3":{"class_type":"KSampler","inputs":{"seed":18446744073709551615,"steps":20,"model":["4",0]}}}');
    // the node's own workflow is left untouched
    expect(stringifyJson(n.workflow_api)).toContain('"seed":1,');
  });

  it("applies run-time overrides such as an upstream image for a LoadImage input", () => {
    const n = node({ workflow_api: { "10": { class_type: "LoadImage", inputs: { image: "a.png" } } } });
    expect(patchedPrompt(n, { "10.image": "orch_x.png" })["10"]).toEqual({ class_type: "LoadImage", inputs: { image: "orch_x.png" } });
  });

  it("orders nodes so that every edge's source runs first and refuses cycles", () => {
    const doc = {
      nodes: [node({ id: "c" }), node({ id: "b" }), node({ id: "a" })],
      edges: [
        { id: "e1", source: "a", source_port: "9", target: "b", target_port: "1.image", kind: "IMAGE" },
        { id: "e2", source: "b", source_port: "9", target: "c", target_port: "1.image", kind: "IMAGE" },
      ],
    };
    expect(topologicalOrder(doc)).toEqual(["a", "b", "c"]);
    expect(topologicalOrder(doc, new Set(["c", "b"]))).toEqual(["b", "c"]);
    const cyclic = { ...doc, edges: [...doc.edges, { id: "e3", source: "c", source_port: "9", target: "a", target_port: "1.image", kind: "IMAGE" }] };
    expect(() => topologicalOrder(cyclic)).toThrow(/cycle/);
  });

  it("keeps exposed parameters and their values that survive a re-inspection", () => {
    const n = node({ values: { "3.seed": 5, "9.gone": "x" }, exposed: [seedParam, { ...seedParam, id: "9.gone", node_id: "9" }] });
    const out = reconcileExposed(n, [{ ...seedParam, max: 10 }]);
    expect(out.exposed.map((p) => p.id)).toEqual(["3.seed"]);
    expect(out.exposed[0].max).toBe(10);
    expect(out.values).toEqual({ "3.seed": 5 });
  });
});
