import { describe, expect, it } from "vitest";
import type { Parameter, ProjectDocument } from "../api/types";
import { documentFromWire, documentToWire, exposedFromWire, exposedToWire } from "./exposed";

const seed: Parameter = {
  id: "3.seed",
  node_id: "3",
  input: "seed",
  label: "Seed",
  node_title: "KSampler",
  class_type: "KSampler",
  type: "INT",
  value: 18446744073709551615n,
  default: 0,
  min: 0,
  max: 18446744073709551615n,
  step: null,
};

describe("exposed parameters on the wire", () => {
  it("saves the scheduler's ExposedParameter shape (address, constraints) with a big bound exact", () => {
    const wire = exposedToWire(seed);
    expect(wire).toEqual({
      id: "3.seed",
      label: "Seed",
      address: { node_id: "3", input: "seed" },
      type: "INT",
      constraints: { min: 0, max: 18446744073709551615n },
      default: 0,
      value: 18446744073709551615n,
    });
    const back = exposedFromWire(wire);
    expect([back.id, back.node_id, back.input, back.type, back.max, back.value]).toEqual(["3.seed", "3", "seed", "INT", 18446744073709551615n, 18446744073709551615n]);
  });

  it("reads a document saved with flat parameters as it was, and writes no canvas-only fields", () => {
    const doc = {
      format: "comfyui-orchestrator-project",
      format_version: 1,
      name: "p",
      edges: [],
      view: {},
      nodes: [{ id: "a", exposed: [seed], ports: { inputs: [], outputs: [] } }],
    } as unknown as ProjectDocument;
    expect(documentFromWire(doc).nodes[0].exposed[0]).toBe(seed);
    const wire = documentToWire(doc).nodes[0] as unknown as Record<string, unknown>;
    expect("ports" in wire).toBe(false);
    expect((wire.exposed as { address: unknown }[])[0].address).toEqual({ node_id: "3", input: "seed" });
  });
});
