/**
 * The browser specs' harness: a stack to test against and a Debian chromium driven by playwright-core.
 *
 * The stack is `ORCH_E2E_URL` when set; otherwise `orch up` is started from the repository's venv with free
 * ports in a fresh data directory, and stopped afterwards. Chromium is `ORCH_CHROMIUM` or /usr/bin/chromium
 * (no browser downloads: playwright-core only drives it), with a fresh profile per launch.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, "../../..");
export const FIXTURES = resolve(REPO, "../shared/fixtures/comfyui");
export const SCREENSHOTS = resolve(REPO, "docs/screenshots");

export interface Stack {
  url: string;
  stop: () => Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === "object" ? ok(addr.port) : fail(new Error("no port"))));
    });
  });
}

/** The stack under test: the given URL, or a fresh `orch up` (nats + scheduler + api + 3 sims + agents). */
export async function startStack(): Promise<Stack> {
  const given = process.env.ORCH_E2E_URL;
  if (given) return { url: given.replace(/\/$/, ""), stop: async () => {} };
  const data = mkdtempSync(join(tmpdir(), "orch-e2e-"));
  const [api, nats] = [await freePort(), await freePort()];
  const simBase = 20000 + Math.floor(Math.random() * 20000);
  const child: ChildProcess = spawn(
    join(REPO, ".venv/bin/orch"),
    ["up", "--data-dir", data, "--port", String(api), "--nats-port", String(nats), "--sim-port-base", String(simBase)],
    {
      cwd: data,
      env: { ...process.env, ORCH_API_UI_DIST: resolve(here, "../dist") },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  const url = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`orch up did not start:\n${output}`)), 120_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /is up: (http:\/\/\S+?)\/?\s/.exec(output);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("exit", (code) => fail(new Error(`orch up exited with ${code}:\n${output}`)));
  });
  return {
    url,
    stop: async () => {
      // Like Ctrl-C: `orch up` stops its children (each in its own session) before it exits.
      if (child.exitCode === null) {
        child.kill("SIGINT");
        await new Promise<void>((ok) => {
          const t = setTimeout(() => {
            if (child.exitCode === null) child.kill("SIGKILL");
            ok();
          }, 60_000);
          child.on("exit", () => {
            clearTimeout(t);
            ok();
          });
        });
      }
      if (process.env.ORCH_E2E_KEEP) console.log(`stack data and logs kept in ${data}`);
      else rmSync(data, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.ORCH_CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A fresh context (fresh localStorage) and page at the stack's URL; page errors are collected. */
export async function openPage(browser: Browser, url: string): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.stack ?? String(e)));
  await page.goto(url);
  return { context, page, errors };
}
