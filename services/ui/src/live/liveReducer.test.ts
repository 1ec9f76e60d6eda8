import { describe, expect, it } from "vitest";
import type { BackendMetrics, LiveMessage } from "../api/types";
import { coalesce, HISTORY_LENGTH, initialLiveState, jobsPerMinute, liveReducer } from "./liveReducer";

const progress = (job_id: string, value: number): LiveMessage => ({
  type: "progress",
  job_id,
  node_id: "3",
  value,
  max: 20,
});
const job = (id: string, state: "queued" | "running" | "succeeded" | "failed" | "cancelled", attempt = 1): LiveMessage => ({
  type: "job",
  job: { id, state, attempt, backend: "b1" },
});
const metrics = (backend_id: string, second: number, jobs_completed = 0): LiveMessage => {
  const m: BackendMetrics = {
    backend_id,
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString(),
    reachable: true,
    queue_remaining: 0,
    running_prompt_id: null,
    running_job_id: null,
    running_node: null,
    progress: null,
    jobs_completed,
    gpus: [{ index: 0, name: "GPU", utilization: 50, vram_used: 1, vram_total: 2, temperature: 60 }],
    ram_total: null,
    ram_free: null,
  };
  return { type: "metrics", ...m };
};

describe("live reducer", () => {
  it("coalesces a burst of progress ticks to the newest one per job, keeping other messages in order", () => {
    const batch = [job("j1", "running"), progress("j1", 1), progress("j2", 1), progress("j1", 2), progress("j1", 3)];
    const out = coalesce(batch);
    expect(out).toEqual([job("j1", "running"), progress("j2", 1), progress("j1", 3)]);
    const state = liveReducer(initialLiveState, { type: "messages", messages: batch });
    expect(state.jobs.j1.progress).toEqual({ node_id: "3", value: 3, max: 20 });
  });

  it("treats a terminal state as final: late progress, previews and states are ignored", () => {
    let s = liveReducer(initialLiveState, { type: "messages", messages: [job("j1", "running"), progress("j1", 5)] });
    s = liveReducer(s, { type: "messages", messages: [job("j1", "succeeded")] });
    expect(s.jobs.j1.state).toBe("succeeded");
    expect(s.jobs.j1.progress).toBeNull();
    const after = liveReducer(s, {
      type: "messages",
      messages: [
        progress("j1", 6),
        job("j1", "running"),
        { type: "preview", job_id: "j1", node_id: "3", content_type: "image/jpeg", data_b64: "AA==" },
      ],
    });
    expect(after.jobs.j1).toEqual(s.jobs.j1);
  });

  it("lets a REST answer that raced the stream never move a job back within an attempt", () => {
    const restJob = (state: "queued" | "running", attempt: number) => ({
      id: "j1",
      state,
      attempts: attempt ? [{ attempt }] : [],
      backend: "b1",
      timings: {},
      error: null,
      outputs: [],
      labels: {},
    });
    let s = liveReducer(initialLiveState, { type: "messages", messages: [job("j1", "running")] });
    s = liveReducer(s, { type: "jobs", jobs: [restJob("queued", 1)] });
    expect(s.jobs.j1.state).toBe("running");
    s = liveReducer(s, { type: "jobs", jobs: [restJob("queued", 2)] });
    expect(s.jobs.j1.state).toBe("queued");
    expect(s.jobs.j1.attempt).toBe(2);
  });

  it("follows the ordered live stream back to queued when an attempt is retried", () => {
    const s = liveReducer(initialLiveState, { type: "messages", messages: [job("j1", "running"), job("j1", "queued")] });
    expect(s.jobs.j1.state).toBe("queued");
  });

  it("shows a structured error as one line", () => {
    const s = liveReducer(initialLiveState, {
      type: "messages",
      messages: [
        {
          type: "job",
          job: { id: "j1", state: "failed", error: { reason: "execution_error", message: "boom", node_id: "3", node_type: "KSampler" } },
        },
      ],
    });
    expect(s.jobs.j1.error).toBe("execution_error: boom (node 3 KSampler)");
  });

  it("builds a backend from a partial status message", () => {
    const s = liveReducer(initialLiveState, {
      type: "messages",
      messages: [{ type: "backend", backend: { id: "b2", status: "disabled" } } as never],
    });
    expect(s.backends.b2.status).toBe("disabled");
    expect(s.backends.b2.capabilities).toEqual({});
  });

  it("adds outputs that arrive after the terminal state", () => {
    let s = liveReducer(initialLiveState, { type: "messages", messages: [job("j1", "succeeded")] });
    const output = {
      artifact_id: "a1",
      node_id: "9",
      filename: "x.png",
      subfolder: "",
      type: "output",
      kind: "image",
      content_type: "image/png",
    };
    s = liveReducer(s, { type: "messages", messages: [{ type: "job", job: { id: "j1", state: "succeeded", outputs: [output] } }] });
    expect(s.jobs.j1.outputs).toEqual([output]);
  });

  it("keeps the last samples of metrics per backend and derives jobs per minute", () => {
    let s = initialLiveState;
    for (let i = 0; i < HISTORY_LENGTH + 10; i++) {
      s = liveReducer(s, { type: "messages", messages: [metrics("b1", i % 60 === i ? i : i, i)] });
    }
    expect(s.history.b1).toHaveLength(HISTORY_LENGTH);
    // one job per second over the 59 s the history spans
    expect(jobsPerMinute(s.history.b1)).toBe(59);
  });

  it("takes the snapshot's backends and jobs", () => {
    const s = liveReducer(initialLiveState, {
      type: "messages",
      messages: [
        {
          type: "snapshot",
          backends: [
            {
              id: "b1",
              comfy_url: "http://x",
              status: "online",
              capabilities: {},
              queued_jobs: 0,
              running_jobs: 0,
              jobs_completed: 0,
              last_seen: null,
              metrics: null,
            },
          ],
          jobs: [
            {
              id: "j9",
              state: "running",
              attempts: [{}],
              backend: "b1",
              timings: {},
              error: null,
              outputs: [],
              labels: { node: "n1" },
            },
          ],
        },
      ],
    });
    expect(Object.keys(s.backends)).toEqual(["b1"]);
    expect(s.jobs.j9.state).toBe("running");
    expect(s.jobs.j9.labels).toEqual({ node: "n1" });
  });

  it("keeps a run job's run, graph node and project from its first message on", () => {
    let s = liveReducer(initialLiveState, {
      type: "messages",
      messages: [{ type: "job", job: { id: "r1", state: "queued", run_id: "run1", graph_node_id: "gen", project_id: "p1", labels: { item: "0" } } }],
    });
    s = liveReducer(s, { type: "messages", messages: [job("r1", "running")] });
    expect([s.jobs.r1.runId, s.jobs.r1.graphNodeId, s.jobs.r1.projectId, s.jobs.r1.labels]).toEqual(["run1", "gen", "p1", { item: "0" }]);
  });

  it("sends the unfinished jobs a reconnect's snapshot leaves out to be read back, and forgets them once read", () => {
    let s = liveReducer(initialLiveState, { type: "messages", messages: [job("gone", "running"), job("still", "running"), job("done", "succeeded")] });
    const listed = { id: "still", state: "running" as const, attempts: [], backend: "b1", timings: {}, error: null, outputs: [], labels: {} };
    s = liveReducer(s, { type: "messages", messages: [{ type: "snapshot", jobs: [listed] }] });
    expect(s.recheck).toEqual(["gone"]);
    s = liveReducer(s, { type: "rechecked", ids: ["gone"] });
    expect(s.recheck).toEqual([]);
  });

  it("places a job it first hears of through its progress on the server that sends it", () => {
    const s = liveReducer(initialLiveState, {
      type: "messages",
      messages: [{ type: "progress", job_id: "seen-late", node_id: "3", value: 2, max: 20, backend_id: "sim-2" }],
    });
    expect([s.jobs["seen-late"].state, s.jobs["seen-late"].backend]).toEqual(["running", "sim-2"]);
  });
});
