/**
 * Behaviours of the canvas against a real stack (`orch up`: nats, scheduler, api, three simulated servers with
 * their agents), driven through Debian chromium. Set ORCH_E2E_URL to test a stack that is already running.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Locator, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FIXTURES, launchBrowser, openPage, SCREENSHOTS, startStack, type Stack } from "./harness";

const here = dirname(fileURLToPath(import.meta.url));
let stack: Stack;
let browser: Browser;
let page: Page;
let errors: string[];

const workflow = (name: string) => join(FIXTURES, "workflows", name);
const nodeIds = async (p: Page) =>
  (await p.locator('[data-testid^="workflow-node-"]').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.testid!))).map(
    (t) => t.replace("workflow-node-", ""),
  );
/** The first port of a node on one side (port ids come from the server's inspector). */
const port = (p: Page, nodeId: string, side: "in" | "out") => p.locator(`[data-testid^="port-${nodeId}-${side}-"]`).first();
/** Fit every node into view (at most 100% zoom), so whatever a test clicks next is on screen. */
async function showAll(p: Page): Promise<void> {
  await p.locator(".react-flow__controls-fitview").click();
  await viewportSettled(p);
}

/** Wait until the canvas viewport's transform has stayed the same for a few frames (a fit may animate). */
async function viewportSettled(p: Page): Promise<void> {
  await p.locator(".react-flow__viewport").evaluate(async (el) => {
    const frame = () => new Promise((r) => requestAnimationFrame(() => r(null)));
    let last = "";
    let still = 0;
    for (let i = 0; i < 120 && still < 3; i++) {
      await frame();
      const now = (el as HTMLElement).style.transform;
      still = now === last ? still + 1 : 0;
      last = now;
    }
  });
}

/** Wait until every image inside the locator has loaded (so a screenshot shows them). */
async function imagesLoaded(l: Locator): Promise<void> {
  await expect
    .poll(() => l.locator("img").evaluateAll((imgs) => imgs.every((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0)))
    .toBe(true);
}

/** The centre of an element on the page. */
async function centre(l: Locator): Promise<[number, number]> {
  const b = (await l.boundingBox())!;
  return [b.x + b.width / 2, b.y + b.height / 2];
}

/**
 * Drag from one handle to another in small steps, the way a hand does (React Flow follows pointer moves). Like a
 * hand it looks again before letting go: should the canvas have moved on the way, it aims at the target anew.
 */
async function drag(p: Page, from: Locator, to: Locator): Promise<void> {
  await showAll(p); // both ends on screen, whatever the viewport was
  await p.mouse.move(...(await centre(from)));
  await p.mouse.down();
  const aim = await centre(to);
  await p.mouse.move(...aim, { steps: 12 });
  try {
    await p.locator(".react-flow__connectionline").waitFor({ state: "attached", timeout: 5_000 });
  } catch {
    await p.mouse.up();
    throw new Error(`pressing on ${String(from)} and moving started no connection`);
  }
  const now = await centre(to);
  if (Math.hypot(now[0] - aim[0], now[1] - aim[1]) > 2) await p.mouse.move(...now, { steps: 3 });
  await p.mouse.up();
}

/** Wait for a node's state; a timeout reports the node's state and the job log, to tell a UI bug from a stuck job. */
async function waitState(p: Page, nodeId: string, state: string | RegExp, timeout = 60_000): Promise<void> {
  try {
    await p.getByTestId(`node-state-${nodeId}`).filter({ hasText: state }).waitFor({ timeout });
  } catch (e) {
    const now = await p.getByTestId(`node-state-${nodeId}`).textContent().catch(() => "?");
    const log = await p.getByTestId("job-log").textContent().catch(() => "(job log closed)");
    throw new Error(`node ${nodeId} is ${now}, not ${String(state)}: ${String(e)}\njob log: ${log}`);
  }
}
const isRunStart = (r: { url(): string; request(): { method(): string } }) =>
  /\/api\/projects\/[^/]+\/runs$/.test(r.url()) && r.request().method() === "POST";
const runIdOf = async (r: { json(): Promise<unknown> }) => ((await r.json()) as { run_id: string }).run_id;

/** The first job a run made for a canvas node (item 0), once the scheduler has planned it. */
async function runJob(p: Page, runId: string, nodeId: string): Promise<string> {
  let jobId = "";
  await expect
    .poll(
      async () => {
        const r = await p.request.get(`${stack.url}/api/runs/${runId}`);
        if (!r.ok()) return "";
        const view = (await r.json()) as { items?: { nodes: Record<string, { jobs: string[] }> }[] };
        jobId = view.items?.[0]?.nodes?.[nodeId]?.jobs?.[0] ?? "";
        return jobId;
      },
      { timeout: 60_000, interval: 250 },
    )
    .not.toBe("");
  return jobId;
}

/** The raw text of a job's recorded events (its submission carries the prompt it ran, big integers verbatim). */
async function jobEventsText(p: Page, jobId: string): Promise<string> {
  let text = "";
  await expect
    .poll(
      async () => {
        const r = await p.request.get(`${stack.url}/api/jobs/${jobId}/events`);
        text = r.ok() ? await r.text() : "";
        return text.includes("job.submitted");
      },
      { timeout: 30_000, interval: 250 },
    )
    .toBe(true);
  return text;
}

const shoot = async (p: Page, name: string) => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await p.screenshot({ path: join(SCREENSHOTS, name) });
};

beforeAll(async () => {
  stack = await startStack();
  browser = await launchBrowser();
  ({ page, errors } = await openPage(browser, stack.url));
});

afterEach(async (ctx) => {
  if (ctx.task.result?.state !== "fail") return;
  const dir = join(here, ".artifacts");
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${ctx.task.name.replace(/[^a-z0-9]+/gi, "_")}.png`) }).catch(() => undefined);
});

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe("the canvas against a live fleet", () => {
  it("shows a card per server with its status, queue and progress bar", async () => {
    for (const id of ["sim-1", "sim-2", "sim-3"]) {
      const card = page.getByTestId(`backend-card-${id}`);
      await card.waitFor({ timeout: 30_000 });
      await page.getByTestId(`backend-progress-${id}`).waitFor();
      expect(await page.getByTestId(`backend-status-${id}`).textContent()).toMatch(/online|busy/);
    }
    await page.getByTestId("live-indicator").filter({ hasText: "live" }).waitFor();
  });

  it("disables and re-enables a server from its card", async () => {
    await page.getByTestId("backend-toggle-sim-3").click();
    await page.getByTestId("backend-status-sim-3").filter({ hasText: "disabled" }).waitFor({ timeout: 20_000 });
    expect(await page.getByTestId("backend-toggle-sim-3").textContent()).toBe("Enable");
    await page.getByTestId("backend-toggle-sim-3").click();
    await page.getByTestId("backend-status-sim-3").filter({ hasText: /online|busy/ }).waitFor({ timeout: 20_000 });
  });

  it("adds two workflows from files and connects an IMAGE output to an IMAGE input, refusing a self-loop", async () => {
    await page.getByTestId("add-file-input").setInputFiles([workflow("api_basic.json"), workflow("api_loadimage_scale.json")]);
    await page.locator('[data-testid^="workflow-node-"]').nth(1).waitFor();
    const [first, second] = await nodeIds(page);
    await port(page, first, "out").waitFor();
    await drag(page, port(page, second, "out"), port(page, second, "in"));
    expect(await page.locator(".react-flow__edge").count()).toBe(0);
    await drag(page, port(page, first, "out"), port(page, second, "in"));
    await page.locator(".react-flow__edge").first().waitFor({ state: "attached" });
    expect(await page.locator(".react-flow__edge").count()).toBe(1);
  });

  it("runs the whole project in order and shows each node's output image as soon as it exists", async () => {
    await page.locator(".react-flow__pane").click({ position: { x: 900, y: 600 } });
    await page.getByTestId("run-button").click();
    const [first, second] = await nodeIds(page);
    for (const id of [first, second]) {
      await waitState(page, id, "succeeded", 60_000);
      await page.getByTestId(`preview-image-${id}`).waitFor({ timeout: 30_000 });
      expect(await page.getByTestId(`node-progress-${id}`).getAttribute("value")).toBe("1");
    }
    const natural = await page
      .getByTestId(`preview-image-${second}`)
      .evaluate((img) => (img as HTMLImageElement).naturalWidth);
    expect(natural).toBe(128); // the scaled copy of the upstream image
  });

  it("sweeps a workflow over two widths twice from its ×N dialog and lists the run's items with their outputs", async () => {
    const [first] = await nodeIds(page);
    await showAll(page);
    await page.getByTestId(`sweep-node-${first}`).click();
    const dialog = page.getByTestId("sweep-dialog");
    await dialog.getByTestId("sweep-repeat").fill("2");
    await dialog.getByTestId("sweep-add-axis").selectOption({ label: "api_basic · Width" });
    await dialog.getByTestId("sweep-values-0").fill("64, 96");
    await dialog.getByTestId("sweep-count").filter({ hasText: "4 items" }).waitFor();
    const started = page.waitForResponse(isRunStart);
    await dialog.getByTestId("sweep-start").click();
    const runId = await runIdOf(await started);
    await page.getByTestId("toggle-runs").click();
    const run = page.getByTestId(`run-${runId}`);
    await run.waitFor({ timeout: 30_000 });
    await page.getByTestId(`run-state-${runId}`).filter({ hasText: "succeeded" }).waitFor({ timeout: 90_000 });
    await run.locator("button.link").first().click();
    await page.getByTestId(`run-item-${runId}-3`).waitFor();
    expect(await run.locator("tr").count()).toBe(4);
    await run.locator("img.run-thumb").nth(3).waitFor();
    expect(await page.getByTestId(`run-item-${runId}-0`).textContent()).toContain("=64");
    await imagesLoaded(run);
    await shoot(page, "runs-panel.png");
    await page.getByTestId("toggle-log").click();
  });

  it("renames with F2, duplicates with Ctrl+D and deletes with Delete", async () => {
    const [first] = await nodeIds(page);
    await page.getByTestId(`node-title-${first}`).click();
    await page.keyboard.press("F2");
    await page.getByTestId("rename-input").fill("Gradient");
    await page.keyboard.press("Enter");
    expect(await page.getByTestId(`node-title-${first}`).textContent()).toBe("Gradient");
    await page.keyboard.press("Control+d");
    await page.locator('[data-testid^="workflow-node-"]').nth(2).waitFor();
    const ids = await nodeIds(page);
    const copy = ids.find((id) => !ids.slice(0, 2).includes(id))!;
    expect(await page.getByTestId(`node-title-${copy}`).textContent()).toBe("Gradient copy");
    await page.keyboard.press("Delete");
    await page.getByTestId(`workflow-node-${copy}`).waitFor({ state: "detached" });
    expect(await nodeIds(page)).toHaveLength(2);
  });

  it("restores the project, its edge and the nodes' finished state after a reload", async () => {
    await page.getByTestId("save-status").filter({ hasText: /^saved$/ }).waitFor({ timeout: 20_000 });
    const before = await nodeIds(page);
    await page.reload();
    await page.locator('[data-testid^="workflow-node-"]').nth(1).waitFor({ timeout: 30_000 });
    expect((await nodeIds(page)).sort()).toEqual([...before].sort());
    await page.locator(".react-flow__edge").first().waitFor({ state: "attached" });
    expect(await page.getByTestId(`node-title-${before[0]}`).textContent()).toBe("Gradient");
    await page.getByTestId(`preview-image-${before[1]}`).waitFor({ timeout: 30_000 });
  });

  it("opens the real ComfyUI editor with the node's workflow and saves it back", async () => {
    const [first] = await nodeIds(page);
    await page.getByTestId(`edit-internals-${first}`).click();
    try {
      await page.getByTestId("editor-status").filter({ hasText: "ready" }).waitFor({ timeout: 90_000 });
      const editor = page.frameLocator('[data-testid="editor-frame"]');
      // the editor's first-visit template gallery stays closed (Comfy.TutorialCompleted is set before loading)
      await editor.locator(".comfy-menu, .comfyui-body-top, canvas").first().waitFor();
      expect(await editor.getByText("Get Started with a Template").count()).toBe(0);
      await shoot(page, "edit-internals.png");
      // change an input inside the real editor, as a user would with its widget
      await editor.locator("body").evaluate(() => {
        type Widget = { name: string; value: unknown };
        const app = (window as unknown as { app: { graph: { getNodeById: (id: number) => { widgets: Widget[] } } } }).app;
        app.graph.getNodeById(2).widgets.find((w) => w.name === "blur_radius")!.value = 9;
      });
      await page.getByTestId("save-back").click();
      await page.getByTestId("edit-internals").waitFor({ state: "detached", timeout: 30_000 });
      expect(await page.getByTestId(`workflow-node-${first}`).count()).toBe(1);
      const started = page.waitForResponse(isRunStart);
      await showAll(page);
      await page.getByTestId(`run-node-${first}`).click();
      const jobId = await runJob(page, await runIdOf(await started), first);
      const body = (await jobEventsText(page, jobId)).replace(/\s/g, "");
      expect(body).toContain('"blur_radius":9');
      expect(body).toContain('"images":["3",0]'); // the links survived the round trip through the editor
      await page.getByTestId(`job-row-${jobId}`).waitFor();
      await waitState(page, first, "succeeded");
    } finally {
      // never leave the editor over the canvas for the specs that follow
      if (await page.getByTestId("edit-internals").count()) await page.getByText("Close", { exact: true }).click();
    }
  });

  it("adds a workflow dropped onto the canvas where it was dropped", async () => {
    const before = new Set(await nodeIds(page));
    const text = readFileSync(workflow("api_basic.json"), "utf8");
    await page.getByTestId("canvas").evaluate((canvas, json) => {
      const data = new DataTransfer();
      data.items.add(new File([json], "dropped.json", { type: "application/json" }));
      const box = canvas.getBoundingClientRect();
      const at = { clientX: box.left + 300, clientY: box.bottom - 150, dataTransfer: data, bubbles: true, cancelable: true };
      canvas.dispatchEvent(new DragEvent("dragover", at));
      canvas.dispatchEvent(new DragEvent("drop", at));
    }, text);
    await page.locator('[data-testid^="workflow-node-"]').nth(before.size).waitFor({ timeout: 30_000 });
    const added = (await nodeIds(page)).find((id) => !before.has(id))!;
    await showAll(page);
    expect(await page.getByTestId(`node-title-${added}`).textContent()).toBe("dropped");
    await page.getByTestId(`node-title-${added}`).click();
    await page.keyboard.press("Delete");
    await page.getByTestId(`workflow-node-${added}`).waitFor({ state: "detached" });
  });

  it("uploads an input image from a node's picker to every server and runs with it", async () => {
    const before = new Set(await nodeIds(page));
    await page.getByTestId("add-file-input").setInputFiles([workflow("api_loadimage_scale.json")]);
    await page.locator('[data-testid^="workflow-node-"]').nth(before.size).waitFor();
    const added = (await nodeIds(page)).find((id) => !before.has(id))!;
    await showAll(page);
    const node = page.getByTestId(`workflow-node-${added}`);
    await node.locator('.image-picker input[type="file"]').setInputFiles(join(FIXTURES, "upload_source.png"));
    await expect.poll(() => node.getByTestId("param-10.image").inputValue(), { timeout: 30_000 }).toContain("upload_source");
    await node.locator("img.thumb").waitFor();
    await page.getByTestId(`run-node-${added}`).click();
    await waitState(page, added, "succeeded", 60_000);
    await page.getByTestId(`preview-image-${added}`).waitFor();
    await page.getByTestId(`node-title-${added}`).click();
    await page.keyboard.press("Delete");
  });

  it("adds a workflow from a server's templates and pins it to a server from the context menu", async () => {
    const before = new Set(await nodeIds(page));
    await page.getByText("Templates…").click();
    await page.getByTestId("add-templates").getByText("Image Generation", { exact: true }).click();
    await page.locator('[data-testid^="workflow-node-"]').nth(before.size).waitFor({ timeout: 30_000 });
    const added = (await nodeIds(page)).find((id) => !before.has(id))!;
    await showAll(page);
    expect(await page.getByTestId(`node-title-${added}`).textContent()).toBe("Image Generation");
    await page.getByTestId(`node-title-${added}`).click({ button: "right" });
    await page.getByTestId("context-menu").getByTestId("pin-sim-2").click();
    await page.getByTestId(`workflow-node-${added}`).getByText("📌 sim-2").waitFor();
    await page.getByTestId(`node-title-${added}`).click();
    await page.keyboard.press("Delete");
    await page.getByTestId(`workflow-node-${added}`).waitFor({ state: "detached" });
  });

  it("adds a workflow saved on a server and exposes one more parameter with the picker", async () => {
    const saved = await page.request.post(`${stack.url}/backends/sim-2/comfy/api/userdata/workflows%2Fe2e_saved.json?overwrite=true`, {
      data: readFileSync(workflow("api_basic.json"), "utf8"),
      headers: { "content-type": "application/json" },
    });
    expect(saved.ok()).toBe(true);
    const before = new Set(await nodeIds(page));
    await page.getByText("From server…").click();
    const dialog = page.getByTestId("add-saved");
    await dialog.getByLabel("server").selectOption("sim-2");
    await dialog.getByText("e2e_saved.json").click();
    await page.locator('[data-testid^="workflow-node-"]').nth(before.size).waitFor({ timeout: 30_000 });
    const added = (await nodeIds(page)).find((id) => !before.has(id))!;
    await showAll(page);
    expect(await page.getByTestId(`node-title-${added}`).textContent()).toBe("e2e_saved");
    const node = page.getByTestId(`workflow-node-${added}`);
    expect(await node.getByTestId("param-2.blur_radius").count()).toBe(0);
    await page.getByTestId(`expose-${added}`).click();
    await page.getByTestId("pick-2.blur_radius").check();
    await page.getByTestId("picker-apply").click();
    await node.getByTestId("param-2.blur_radius").waitFor();
    await node.getByTestId("param-2.blur_radius").fill("7");
    const started = page.waitForResponse(isRunStart);
    await page.getByTestId(`run-node-${added}`).click();
    const jobId = await runJob(page, await runIdOf(await started), added);
    expect((await jobEventsText(page, jobId)).replace(/\s/g, "")).toContain('"blur_radius":7');
    await page.getByTestId(`node-title-${added}`).click();
    await page.keyboard.press("Delete");
  });

  it("lists saved versions and restores an older one", async () => {
    await page.getByTestId("save-button").click();
    await page.getByTestId("save-status").filter({ hasText: /^saved$/ }).waitFor({ timeout: 20_000 });
    expect(await page.locator('[data-testid^="node-title-"]', { hasText: "Gradient" }).count()).toBe(1);
    await page.getByText("Versions").click();
    const list = page.getByTestId("version-list");
    await list.locator("button").first().waitFor();
    expect(await list.locator("button").count()).toBeGreaterThan(1);
    await list.locator("button").last().click(); // version 1: saved before the first workflow was renamed
    await page.locator('[data-testid^="node-title-"]', { hasText: "api_basic" }).waitFor({ timeout: 30_000 });
    expect(await page.locator('[data-testid^="node-title-"]', { hasText: "Gradient" }).count()).toBe(0);
  });

  it("starts a new project and opens the previous one again", async () => {
    const ids = (await nodeIds(page)).sort();
    await page.getByTestId("project-name").fill("e2e reopen");
    await page.getByTestId("project-name").press("Enter");
    await page.getByTestId("save-status").filter({ hasText: /^saved$/ }).waitFor({ timeout: 20_000 });
    await page.getByText("New", { exact: true }).click();
    await page.locator('[data-testid^="workflow-node-"]').first().waitFor({ state: "detached" });
    await page.getByText("Open…").click();
    await page.getByTestId("project-list").getByText("e2e reopen").first().click();
    await page.locator('[data-testid^="workflow-node-"]').nth(ids.length - 1).waitFor({ timeout: 30_000 });
    expect((await nodeIds(page)).sort()).toEqual(ids);
  });

  it("keeps a seed beyond 2^53 exact from the field to the submitted job and through a reload", async () => {
    const big = "18446744073709551615";
    const before = new Set(await nodeIds(page));
    await page.getByTestId("add-file-input").setInputFiles([workflow("ui_default.json")]);
    await page.locator('[data-testid^="workflow-node-"]').nth(before.size).waitFor();
    const added = (await nodeIds(page)).find((id) => !before.has(id))!;
    await showAll(page);
    const seed = page.getByTestId(`workflow-node-${added}`).getByTestId("param-3.seed");
    await seed.fill(big);
    const started = page.waitForResponse(isRunStart);
    await page.getByTestId(`run-node-${added}`).click();
    const jobId = await runJob(page, await runIdOf(await started), added);
    expect((await jobEventsText(page, jobId)).replace(/\s/g, "")).toContain(`"seed":${big}`);
    await waitState(page, added, /queued|scheduled|running|succeeded/);
    await page.getByTestId("save-status").filter({ hasText: /^saved$/ }).waitFor({ timeout: 20_000 });
    await page.reload();
    const again = page.getByTestId(`workflow-node-${added}`).getByTestId("param-3.seed");
    await again.waitFor({ timeout: 30_000 });
    expect(await again.inputValue()).toBe(big);
  });

  it("shows a long sampler's progress and live preview on its node, and cancels it from the job log", async () => {
    const before = new Set(await nodeIds(page));
    await page.getByTestId("add-file-input").setInputFiles([workflow("ui_default.json")]);
    await page.locator('[data-testid^="workflow-node-"]').nth(before.size).waitFor();
    const added = (await nodeIds(page)).find((id) => !before.has(id))!;
    await showAll(page);
    await page.getByTestId(`workflow-node-${added}`).getByTestId("param-3.steps").fill("5000");
    const started = page.waitForResponse(isRunStart);
    await page.getByTestId(`run-node-${added}`).click();
    const runId = await runIdOf(await started);
    const jobId = await runJob(page, runId, added);
    try {
      await page.getByTestId(`live-preview-${added}`).waitFor({ timeout: 60_000 });
      const progress = Number(await page.getByTestId(`node-progress-${added}`).getAttribute("value"));
      expect(progress).toBeGreaterThan(0);
      expect(progress).toBeLessThan(1);
      await page.locator('[data-testid^="backend-card-"].status-busy').first().waitFor({ timeout: 30_000 });
      await shoot(page, "fleet-panel.png");
      // a reload finds the running job again from the live stream alone (this browser's run records cleared) and
      // keeps following it
      await page.evaluate(() => ["orch.runs.v1", "orch.runs.followed.v1"].forEach((k) => localStorage.removeItem(k)));
      await page.reload();
      await waitState(page, added, "running", 30_000);
      await page.getByTestId(`live-preview-${added}`).waitFor({ timeout: 30_000 });
      await page.getByTestId(`cancel-${jobId}`).click();
      await waitState(page, added, "cancelled", 60_000);
    } finally {
      await page.request.post(`${stack.url}/api/runs/${runId}/cancel`).catch(() => undefined); // never leave it running
    }
    await page.getByTestId(`node-title-${added}`).click();
    await page.keyboard.press("Delete");
  });

  it("cancels a run from the Runs drawer and retries its cancelled item, which runs again on the node", async () => {
    const before = new Set(await nodeIds(page));
    await page.getByTestId("add-file-input").setInputFiles([workflow("ui_default.json")]);
    await page.locator('[data-testid^="workflow-node-"]').nth(before.size).waitFor();
    const added = (await nodeIds(page)).find((id) => !before.has(id))!;
    await showAll(page);
    await page.getByTestId(`workflow-node-${added}`).getByTestId("param-3.steps").fill("5000");
    const started = page.waitForResponse(isRunStart);
    await page.getByTestId(`run-node-${added}`).click();
    const runId = await runIdOf(await started);
    try {
      await waitState(page, added, "running", 60_000);
      await page.getByTestId("toggle-runs").click();
      await page.getByTestId(`cancel-run-${runId}`).click();
      await page.getByTestId(`run-state-${runId}`).filter({ hasText: "cancelled" }).waitFor({ timeout: 60_000 });
      await waitState(page, added, "cancelled");
      await page.getByTestId(`run-${runId}`).locator("button.link").first().click();
      await page.getByTestId(`retry-${runId}-0`).click();
      await waitState(page, added, /queued|scheduled|running/, 60_000); // the item's re-run job, on the node
      await page.getByTestId(`run-state-${runId}`).filter({ hasText: "running" }).waitFor({ timeout: 30_000 });
    } finally {
      // never leave it running: a second cancel of a retried run is not honoured yet, so cancel its jobs one by one
      const view = (await (await page.request.get(`${stack.url}/api/runs/${runId}`)).json()) as {
        items?: { nodes: Record<string, { jobs: string[] }> }[];
      };
      for (const job of (view.items ?? []).flatMap((i) => Object.values(i.nodes).flatMap((n) => n.jobs))) {
        await page.request.post(`${stack.url}/api/jobs/${job}/cancel`).catch(() => undefined);
      }
    }
    await waitState(page, added, "cancelled", 60_000);
    await page.getByTestId("toggle-log").click();
    await page.getByTestId(`node-title-${added}`).click();
    await page.keyboard.press("Delete");
    await page.getByTestId(`workflow-node-${added}`).waitFor({ state: "detached" });
  });

  it("shows masks in greyscale or over their image, and text outputs as text", async () => {
    const before = new Set(await nodeIds(page));
    await page.getByTestId("add-file-input").setInputFiles([workflow("api_mask.json"), workflow("api_text_preview_any.json")]);
    await page.locator('[data-testid^="workflow-node-"]').nth(before.size + 1).waitFor();
    const [mask, text] = (await nodeIds(page)).filter((id) => !before.has(id));
    await showAll(page);
    await page.getByTestId(`run-node-${mask}`).click();
    await page.getByTestId(`run-node-${text}`).click();
    await waitState(page, mask, "succeeded", 60_000);
    await page.getByTestId(`preview-image-${mask}`).waitFor({ timeout: 30_000 });
    const maskNode = page.getByTestId(`workflow-node-${mask}`);
    await maskNode.locator("img.mask").first().waitFor();
    await maskNode.getByText("overlay masks").click();
    await maskNode.locator(".mask-overlay").first().waitFor();
    await page.getByTestId(`workflow-node-${text}`).locator(".text-output").filter({ hasText: "123" }).waitFor({ timeout: 60_000 });
    await page.getByTestId("toggle-gallery").click();
    await page.getByTestId("gallery").locator("figure").first().waitFor();
    await shoot(page, "gallery.png");
    const again = page.waitForResponse((r) => r.url().endsWith("/api/jobs") && r.request().method() === "POST");
    await page.getByTestId("gallery").locator('[data-testid^="rerun-"]').first().click();
    expect((await again).status()).toBe(202);
    await page.getByTestId("toggle-log").click();
  });

  it("keeps a new project apart from the open one whose save was still on the wire when New was clicked", async () => {
    const isSave = (r: { url(): string; method(): string }) => /\/api\/projects\/[^/]+$/.test(r.url()) && r.method() === "PUT";
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    await page.route(
      (url) => /\/api\/projects\/[^/]+$/.test(url.pathname),
      async (route) => {
        if (route.request().method() !== "PUT") return route.fallback();
        const response = await route.fetch(); // stored by the server; its reply reaches the page only once released
        await held;
        await route.fulfill({ response });
      },
      { times: 1 },
    );
    const saving = page.waitForRequest(isSave);
    await page.getByTestId("save-button").click();
    const oldId = new URL((await saving).url()).pathname.split("/").pop()!;
    const project = async (id: string) => {
      const body = (await (await page.request.get(`${stack.url}/api/projects/${id}`)).json()) as { document?: { name: string; nodes: unknown[] } };
      return body.document ?? (body as unknown as { name: string; nodes: unknown[] });
    };
    await expect.poll(async () => (await project(oldId)).nodes.length).toBeGreaterThan(0);
    const before = await project(oldId);

    await page.getByText("New", { exact: true }).click();
    await page.locator('[data-testid^="workflow-node-"]').first().waitFor({ state: "detached" });
    const replied = page.waitForResponse((r) => isSave(r.request()));
    release();
    await replied;
    const created = page.waitForRequest((r) => r.url().endsWith("/api/projects") && r.method() === "POST", { timeout: 15_000 });
    await page.getByTestId("add-file-input").setInputFiles([workflow("api_basic.json")]);
    await page.locator('[data-testid^="workflow-node-"]').first().waitFor();
    await created; // the new project is saved as a project of its own
    await page.getByTestId("save-status").filter({ hasText: /^saved$/ }).waitFor({ timeout: 20_000 });
    const after = await project(oldId);
    expect([after.name, after.nodes.length]).toEqual([before.name, before.nodes.length]);
  });

  it("chains a text-to-image workflow into an image-to-image one in a new project", async () => {
    await page.getByText("New", { exact: true }).click();
    await page.locator('[data-testid^="workflow-node-"]').first().waitFor({ state: "detached" });
    await page.getByTestId("project-name").fill("txt2img → img2img");
    await page.getByTestId("project-name").press("Enter");
    await page.getByTestId("add-file-input").setInputFiles([workflow("ui_default.json"), workflow("ui_image2image.json")]);
    await page.locator('[data-testid^="workflow-node-"]').nth(1).waitFor();
    const [txt, img] = await nodeIds(page);
    await drag(page, port(page, txt, "out"), port(page, img, "in"));
    await page.locator(".react-flow__edge").first().waitFor({ state: "attached" });
    await page.locator(".react-flow__pane").click({ position: { x: 1100, y: 500 } });
    await page.getByTestId("run-button").click();
    for (const id of [txt, img]) {
      await waitState(page, id, "succeeded", 90_000);
      await page.getByTestId(`preview-image-${id}`).waitFor({ timeout: 30_000 });
    }
    await imagesLoaded(page.getByTestId("canvas"));
    await shoot(page, "canvas-two-connected-workflows.png");
  });

  it("raised no uncaught page errors", () => {
    expect(errors).toEqual([]);
  });
});
