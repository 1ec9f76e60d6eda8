import { defineConfig } from "vitest/config";

// Browser specs: playwright-core driving Debian chromium against a running stack (ORCH_E2E_URL) or one the
// spec starts itself with `orch up`.
export default defineConfig({
  test: {
    include: ["e2e/**/*.spec.ts"],
    environment: "node",
    testTimeout: 120_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});
