import { describe, expect, it } from "vitest";
import { judgeConnection, kindsCompatible, type PortIndex } from "./ports";

const ports: PortIndex = {
  a: {
    inputs: [{ id: "10.image", node_id: "10", input: "image", kind: "IMAGE", label: "image" }],
    outputs: [
      { id: "9", node_id: "9", kind: "IMAGE", label: "Save Image" },
      { id: "12", node_id: "12", kind: "LATENT", label: "latent" },
    ],
  },
  b: {
    inputs: [
      { id: "1.image", node_id: "1", input: "image", kind: "IMAGE", label: "image" },
      { id: "2.mask", node_id: "2", input: "mask", kind: "MASK", label: "mask" },
    ],
    outputs: [{ id: "7", node_id: "7", kind: "MASK", label: "mask" }],
  },
};
const conn = (source: string, sh: string, target: string, th: string) => ({
  source,
  sourceHandle: sh,
  target,
  targetHandle: th,
});

describe("connection validation by kind", () => {
  it("accepts an IMAGE output into an IMAGE input", () => {
    const v = judgeConnection(conn("a", "out:9", "b", "in:1.image"), ports, []);
    expect(v).toEqual({ ok: true, kind: "IMAGE", sourcePort: "9", targetPort: "1.image" });
  });

  it("refuses a LATENT output into an IMAGE input and names both kinds", () => {
    const v = judgeConnection(conn("a", "out:12", "b", "in:1.image"), ports, []);
    expect(v).toEqual({ ok: false, reason: "LATENT cannot feed IMAGE" });
  });

  it("refuses a MASK output into an IMAGE input but lets an IMAGE feed a MASK", () => {
    expect(judgeConnection(conn("b", "out:7", "a", "in:10.image"), ports, []).ok).toBe(false);
    expect(kindsCompatible("IMAGE", "MASK")).toBe(true);
  });

  it("refuses self-loops, input-to-output drags, unknown ports and cycles", () => {
    expect(judgeConnection(conn("a", "out:9", "a", "in:10.image"), ports, []).ok).toBe(false);
    expect(judgeConnection(conn("a", "in:10.image", "b", "in:1.image"), ports, []).ok).toBe(false);
    expect(judgeConnection(conn("a", "out:99", "b", "in:1.image"), ports, []).ok).toBe(false);
    const edges = [{ id: "e1", source: "a", source_port: "9", target: "b", target_port: "1.image", kind: "IMAGE" }];
    const back = judgeConnection(conn("b", "out:7", "a", "in:10.image"), { ...ports, b: { ...ports.b!, outputs: [{ id: "7", node_id: "7", kind: "IMAGE", label: "x" }] } }, edges);
    expect(back).toEqual({ ok: false, reason: "that would make a cycle" });
  });
});
