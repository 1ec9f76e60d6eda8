import { describe, expect, it } from "vitest";
import type { JobOutput, JobState, LiveMessage, RunItemNode, RunView } from "../api/types";
import { combine, freshen } from "./runLive";
import { foldLive, latestJobByNode, runReducer, type RunState } from "./runStore";

const empty: RunState = { records: [], runs: {}, log: [], refetch: [] };
const output = (id: string): JobOutput => ({
  artifact_id: id,
  node_id: "9",
  filename: `${id}.png`,
  subfolder: "",
  type: "output",
  kind: "image",
  content_type: "image/png",
});
const node = (state: RunItemNode["state"], jobs: string[] = []): RunItemNode => ({ state, jobs, outputs: [], error: null });
const view = (nodes: Record<string, RunItemNode>[], over: Partial<RunView> = {}): RunView => ({
  id: "run1",
  project_id: "p1",
  project_version: 1,
  state: "running",
  created_at: "2026-01-01T00:00:00Z",
  nodes: Object.keys(nodes[0] ?? {}),
  items_total: nodes.length,
  error: null,
  items: nodes.map((n, i) => ({ item: i, state: combine(Object.values(n).map((x) => x.state)), values: [], nodes: n })),
  ...over,
});
const job = (id: string, state: JobState, nodeId: string, item = 0, extra: Record<string, unknown> = {}): LiveMessage => ({
  type: "job",
  job: { id, state, run_id: "run1", graph_node_id: nodeId, project_id: "p1", labels: { item: String(item) }, outputs: [], ...extra },
});
const holding = (v: RunView): RunState => ({ ...empty, runs: { [v.id]: v } });

describe("runs followed from the live stream", () => {
  it("maps a run's job to its canvas node the moment it is submitted, and reads a run it does not hold", () => {
    const s = foldLive(empty, [job("j-gen", "queued", "gen")], "p1", 1);
    expect(latestJobByNode(s.records)).toEqual({ gen: "j-gen" });
    expect(s.records[0]).toMatchObject({ runId: "run1", projectId: "p1" });
    expect(s.refetch).toEqual(["run1"]);
  });

  it("leaves another project's runs alone unless this browser follows them", () => {
    expect(foldLive(empty, [job("j-gen", "queued", "gen")], "other", 1)).toBe(empty);
    const held = holding(view([{ gen: node("pending") }]));
    expect(latestJobByNode(foldLive(held, [job("j-gen", "queued", "gen")], "other", 1).records)).toEqual({ gen: "j-gen" });
  });

  it("patches the held run in place, node by node, up to its end, without reading it again", () => {
    let s = holding(view([{ gen: node("pending"), inv: node("pending") }], { state: "pending" }));
    s = foldLive(s, [job("j-gen", "queued", "gen")], "p1", 1);
    expect(s.runs.run1.items?.[0].nodes.gen).toMatchObject({ state: "queued", jobs: ["j-gen"] });
    expect([s.runs.run1.items?.[0].state, s.runs.run1.state]).toEqual(["running", "running"]);
    s = foldLive(s, [job("j-gen", "succeeded", "gen", 0, { outputs: [output("a")] }), job("j-inv", "running", "inv")], "p1", 2);
    expect(s.runs.run1.items?.[0].nodes.gen.outputs.map((o) => o.artifact_id)).toEqual(["a"]);
    expect(latestJobByNode(s.records)).toEqual({ gen: "j-gen", inv: "j-inv" });
    s = foldLive(s, [job("j-inv", "succeeded", "inv")], "p1", 3);
    expect([s.runs.run1.items?.[0].state, s.runs.run1.state, s.runs.run1.items_by_state]).toEqual(["succeeded", "succeeded", { succeeded: 1 }]);
    expect(s.refetch).toEqual([]);
  });

  it("reads the run again when a job fails or is cancelled (blocked nodes are the scheduler's to derive)", () => {
    const s = foldLive(holding(view([{ gen: node("running", ["j-gen"]), inv: node("pending") }])), [job("j-gen", "failed", "gen")], "p1", 1);
    expect(s.runs.run1.items?.[0].nodes.gen.state).toBe("failed");
    expect(s.refetch).toEqual(["run1"]);
  });

  it("reads the run again for a job of an item its view lacks", () => {
    const s = foldLive(holding(view([{ gen: node("running", ["j0"]) }])), [job("j7", "queued", "gen", 7)], "p1", 1);
    expect(s.refetch).toEqual(["run1"]);
    expect(latestJobByNode(s.records)).toEqual({ gen: "j7" });
  });

  it("changes nothing for a repeated message or a late one about a node's earlier job", () => {
    const held = holding(view([{ gen: node("running", ["j-old", "j-new"]) }]));
    const once = foldLive(held, [job("j-new", "running", "gen")], "p1", 1);
    expect(once.runs).toBe(held.runs);
    expect(foldLive(once, [job("j-old", "failed", "gen")], "p1", 2).runs).toBe(held.runs);
  });

  it("keeps a retried item's node pending until its new job is submitted", () => {
    const held = holding(view([{ gen: node("pending", ["j-failed"]) }]));
    const s = foldLive(held, [job("j-failed", "failed", "gen")], "p1", 1);
    expect(s.runs.run1.items?.[0].nodes.gen.state).toBe("pending");
    const again = foldLive(s, [job("j-again", "queued", "gen")], "p1", 2);
    expect(again.runs.run1.items?.[0].nodes.gen).toMatchObject({ state: "queued", jobs: ["j-failed", "j-again"] });
  });

  it("reads a run on its request, retry or cancellation, and every followed run on a reconnect", () => {
    const run = (id: string, project: string | null, event: string): LiveMessage => ({ type: "run", run: { id, project_id: project, event, item: null } });
    expect(foldLive(empty, [run("r-new", "p1", "requested"), run("r-else", "p2", "requested")], "p1", 1).refetch).toEqual(["r-new"]);
    const held = holding(view([{ gen: node("running", ["j"]) }]));
    expect(foldLive(held, [run("run1", null, "item_retry_requested")], "p1", 1).refetch).toEqual(["run1"]);
    const over = { ...held, runs: { ...held.runs, done: { ...held.runs.run1, id: "done", state: "succeeded" as const } } };
    expect(foldLive(over, [{ type: "snapshot", jobs: [] }], "p1", 1).refetch).toEqual(["run1"]);
  });

  it("brings a view read over REST up to the live jobs, and keeps a newer job the read raced", () => {
    const fetched = view([{ gen: node("queued", ["j-gen"]), inv: node("cancelled", ["j-inv"]) }]);
    const fresh = freshen(fetched, undefined, { "j-gen": { state: "succeeded", outputs: [output("a")] }, "j-inv": { state: "running", outputs: [] } });
    expect(fresh.items?.[0].nodes.gen).toMatchObject({ state: "succeeded", outputs: [output("a")] });
    expect(fresh.items?.[0].nodes.inv.state).toBe("cancelled"); // a terminal state read from the scheduler stands
    const held = view([{ gen: node("queued", ["j-gen", "j-gen-2"]), inv: node("cancelled", ["j-inv"]) }]);
    expect(freshen(fetched, held, {}).items?.[0].nodes.gen.jobs).toEqual(["j-gen", "j-gen-2"]);
    const s = runReducer(empty, { type: "runs", runs: [fetched], live: { "j-gen": { state: "running", outputs: [] } } });
    expect(s.runs.run1.items?.[0].nodes.gen.state).toBe("running");
  });

  it("derives item and run states by the scheduler's rule", () => {
    expect(combine(["pending", "pending"])).toBe("pending");
    expect(combine(["succeeded", "pending"])).toBe("running");
    expect(combine(["succeeded", "blocked"])).toBe("failed");
    expect(combine(["cancelled", "succeeded"])).toBe("cancelled");
    expect(combine(["succeeded"])).toBe("succeeded");
  });
});
