import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { Backend } from "../api/types";
import type { LiveJob, MetricsSample } from "../live/liveReducer";
import { BackendCard } from "./BackendCard";
import { occupancy, runningByBackend } from "./occupancy";

const backend = (over: Partial<Backend> = {}): Backend => ({
  id: "sim-1",
  comfy_url: "http://127.0.0.1:8188",
  status: "busy",
  capabilities: { gpu_name: "Sim GPU" },
  queued_jobs: 2,
  running_jobs: ["job-abcdef123"],
  jobs_completed: 7,
  last_seen: null,
  metrics: {
    backend_id: "sim-1",
    at: "2026-01-01T00:00:00Z",
    reachable: true,
    queue_remaining: 3,
    running_prompt_id: "p1",
    running_job_id: "job-abcdef123",
    running_node: "3",
    progress: 0.25,
    jobs_completed: 7,
    gpus: [{ index: 0, name: "Sim GPU", utilization: 87, vram_used: 4 * 1024 ** 3, vram_total: 8 * 1024 ** 3, temperature: 66 }],
    ram_total: null,
    ram_free: null,
  },
  ...over,
});

const samples: MetricsSample[] = [0, 1, 2].map((i) => ({
  at: i * 30_000,
  utilization: 50 + i,
  vramUsed: 1,
  vramTotal: 2,
  temperature: 60,
  jobsCompleted: 5 + i,
}));

describe("BackendCard", () => {
  it("shows status, queue, the running job and node with its progress", () => {
    render(<BackendCard backend={backend()} history={samples} />);
    const card = screen.getByTestId("backend-card-sim-1");
    expect(card.className).toContain("status-busy");
    expect(screen.getByTestId("backend-status-sim-1").textContent).toBe("busy");
    expect(screen.getByTestId("backend-queue-sim-1").textContent).toBe("3");
    expect(card.textContent).toContain("job-abcd");
    expect(card.textContent).toContain("node 3");
    expect((screen.getByTestId("backend-progress-sim-1") as HTMLProgressElement).value).toBe(0.25);
  });

  it("shows GPU utilisation, VRAM, temperature and jobs per minute", () => {
    render(<BackendCard backend={backend()} history={samples} />);
    const card = screen.getByTestId("backend-card-sim-1");
    expect(card.textContent).toContain("GPU 87%");
    expect(card.textContent).toContain("VRAM 4.0 GiB / 8.0 GiB");
    expect(card.textContent).toContain("Temp 66°C");
    expect(card.textContent).toContain("Jobs/min2"); // 2 jobs within the last minute
    expect(card.querySelectorAll("svg.sparkline")).toHaveLength(3);
  });

  it("offers Enable for a disabled server and shows idle without metrics", () => {
    render(<BackendCard backend={backend({ status: "disabled", metrics: null, running_jobs: [] })} history={[]} />);
    expect(screen.getByTestId("backend-toggle-sim-1").textContent).toBe("Enable");
    expect(screen.getByTestId("backend-card-sim-1").textContent).toContain("idle");
  });

  it("is busy with the job the live stream says runs there, before its metrics catch up", () => {
    const idle = backend({ status: "online", running_jobs: [], metrics: { ...backend().metrics!, running_prompt_id: null, running_job_id: null, running_node: null, progress: null } });
    const jobs = { live1: liveJob("live1", "running", "sim-1", { node_id: "7", value: 5, max: 10 }), other: liveJob("other", "running", "sim-2") };
    const now = occupancy(idle, runningByBackend(jobs)["sim-1"], jobs);
    expect(now).toEqual({ status: "busy", running: 1, job: "live1", node: "7", progress: 0.5 });
    render(<BackendCard backend={idle} history={[]} occupancy={now} />);
    expect(screen.getByTestId("backend-status-sim-1").textContent).toBe("busy");
    expect(screen.getByTestId("backend-job-sim-1").textContent).toContain("live1");
  });

  it("is idle the moment its last job ends, even while its metrics still name that job", () => {
    const jobs = { "job-abcdef123": liveJob("job-abcdef123", "succeeded", "sim-1") };
    const now = occupancy(backend(), runningByBackend(jobs)["sim-1"], jobs);
    expect([now.status, now.job, now.running]).toEqual(["online", null, 0]);
  });

  it("is busy with a prompt that is none of our jobs (the embedded editor's)", () => {
    const b = backend({ status: "online", metrics: { ...backend().metrics!, running_job_id: null } });
    expect([occupancy(b).status, occupancy(b).job]).toEqual(["busy", null]);
  });
});

function liveJob(id: string, state: LiveJob["state"], on: string, progress: LiveJob["progress"] = null): LiveJob {
  return { id, state, backend: on, attempt: 1, error: null, outputs: [], progress, preview: null, labels: {}, projectId: null, runId: null, graphNodeId: null, updatedAt: 0 };
}
