import { describe, expect, it } from "vitest";
import { withNeededUpstream } from "./runner";

const edge = (source: string, target: string) => ({
  id: `${source}-${target}`,
  source,
  source_port: "9.images",
  target,
  target_port: "10.image",
  kind: "IMAGE",
});

describe("what a run includes", () => {
  it("adds every upstream node that has never run, transitively", () => {
    const doc = { edges: [edge("a", "b"), edge("b", "c"), edge("x", "c")] };
    expect([...withNeededUpstream(doc, ["c"], () => false)].sort()).toEqual(["a", "b", "c", "x"]);
  });

  it("reuses upstream nodes that already ran and stops there", () => {
    const doc = { edges: [edge("a", "b"), edge("b", "c")] };
    expect([...withNeededUpstream(doc, ["c"], (id) => id === "b")].sort()).toEqual(["c"]);
  });
});
