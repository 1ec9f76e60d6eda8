import { chromium } from "playwright-core";
const url = process.argv[2];
const b = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox","--disable-gpu"] });
const p = await b.newPage({ viewport: { width: 1600, height: 1000 } });
p.on("pageerror", (e) => console.log("pageerror:", e.stack));
await p.goto(url);
await p.waitForTimeout(1500);
await p.getByText("New", { exact: true }).click();
await p.locator('[data-testid="add-file-input"]').setInputFiles(["/work/shared/fixtures/comfyui/workflows/ui_default.json"]);
await p.waitForTimeout(1500);
const ids = (await p.locator('[data-testid^="workflow-node-"]').evaluateAll((els) => els.map((e) => e.dataset.testid))).map(s=>s.replace("workflow-node-",""));
await p.getByTestId("param-3.steps").fill("60");
await p.getByTestId(`run-node-${ids[0]}`).click();
for (let i = 0; i < 8; i++) {
  await p.waitForTimeout(700);
  console.log(await p.getByTestId(`node-state-${ids[0]}`).textContent(), await p.getByTestId(`node-progress-${ids[0]}`).getAttribute("value"), await p.getByTestId(`live-preview-${ids[0]}`).count());
  if (i === 3) await p.screenshot({ path: "/tmp/dbg-running.png" });
}
await p.screenshot({ path: "/tmp/dbg.png" });
await b.close();
