import { describe, expect, it } from "vitest";
import type { RunView } from "../api/types";
import { latestJobByNode, runReducer, type RunState } from "./runStore";

const empty: RunState = { records: [], runs: {}, log: [], refetch: [] };
const view = (over: Partial<RunView>): RunView => ({
  id: "run1",
  project_id: "p1",
  project_version: 2,
  state: "running",
  nodes: ["gen", "inv"],
  items_total: 1,
  error: null,
  ...over,
});
const node = (jobs: string[]) => ({ state: "running" as const, jobs, outputs: [], error: null });

describe("the runs this browser follows", () => {
  it("maps each job of a run to its canvas node, a re-run winning over the first job", () => {
    let state = runReducer(empty, { type: "runs", runs: [view({ items: [{ item: 0, state: "running", values: [], nodes: { gen: node(["run1-0-gen"]), inv: node([]) } }] })] });
    expect(latestJobByNode(state.records)).toEqual({ gen: "run1-0-gen" });
    state = runReducer(state, {
      type: "runs",
      runs: [view({ items: [{ item: 0, state: "running", values: [], nodes: { gen: node(["run1-0-gen", "run1-0-gen-r1"]), inv: node(["run1-0-inv"]) } }] })],
    });
    expect(latestJobByNode(state.records)).toEqual({ gen: "run1-0-gen-r1", inv: "run1-0-inv" });
    expect(state.records.filter((r) => r.jobId === "run1-0-gen")).toHaveLength(1);
    expect(state.runs.run1.state).toBe("running");
  });

  it("does not claim an upstream job a run borrowed from an earlier run", () => {
    const state = runReducer(empty, {
      type: "runs",
      runs: [view({ borrowed: { gen: "old-0-gen" }, items: [{ item: 0, state: "running", values: [], nodes: { gen: node(["old-0-gen"]), inv: node(["run1-0-inv"]) } }] })],
    });
    expect(state.records.map((r) => r.jobId)).toEqual(["run1-0-inv"]);
  });

  it("shows the last item of a sweep on the node", () => {
    const items = [0, 1, 2].map((i) => ({ item: i, state: "running" as const, values: [], nodes: { gen: node([`run1-${i}-gen`]) } }));
    const state = runReducer(empty, { type: "runs", runs: [view({ items_total: 3, items })] });
    expect(latestJobByNode(state.records).gen).toBe("run1-2-gen");
  });
});
