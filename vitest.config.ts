import { defineConfig } from "vitest/config";

// Tests that need the real services (Docker, registry, S3) find them through the environment
// that `scripts/test-env start` prints; see test/support/services.ts.
export default defineConfig({
  test: {
    include: ["**/*.test.ts"],
    exclude: ["node_modules/**", "dist/**", ".toolchain/**"],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: "forks",
    reporters: ["default", ["json", { outputFile: ".vitest-report.json" }]],
  },
});
