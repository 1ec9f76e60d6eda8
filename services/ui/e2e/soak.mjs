// The canvas page under a live load, for `bench/bench_live.py`: open the API's canvas in Debian chromium and,
// every few seconds, record the page's retained JS heap (after a forced garbage collection), its DOM nodes and
// event listeners, and how late a 0 ms timer fires (a page that cannot keep up with the stream lags).
//
//   node services/ui/e2e/soak.mjs URL SECONDS EVERY_S OUT.json
import { writeFileSync } from "node:fs";
import { chromium } from "playwright-core";

const [url, seconds, every, out] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.ORCH_CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  await page.goto(url, { waitUntil: "load" });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Performance.enable");
  const samples = [];
  const started = Date.now();
  while ((Date.now() - started) / 1000 < Number(seconds)) {
    await page.waitForTimeout(Number(every) * 1000);
    const lag = await page.evaluate(
      () => new Promise((done) => { const t = performance.now(); setTimeout(() => done(performance.now() - t), 0); }),
    );
    await cdp.send("HeapProfiler.collectGarbage");
    const { metrics } = await cdp.send("Performance.getMetrics");
    const m = Object.fromEntries(metrics.map((x) => [x.name, x.value]));
    samples.push({
      t: (Date.now() - started) / 1000,
      heap: m.JSHeapUsedSize,
      nodes: m.Nodes,
      listeners: m.JSEventListeners,
      lag,
    });
  }
  writeFileSync(out, JSON.stringify(samples));
} finally {
  await browser.close();
}
