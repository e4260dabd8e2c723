import { defineConfig } from "vitest/config";

const ignored = ["node_modules/**", "dist/**", ".toolchain/**"];

// Whole-loop tests rank servers by measured speed. On a 2-core machine, running them beside the
// rest of the suite adds enough scheduling noise to blur a 5% difference, so they run one file at
// a time after the parallel batch has finished.
const loopTests = [
  "controller/rounds/scripted-round.test.ts",
  "agent/job/sim-pod-job.test.ts",
  "agent/job/regrade-pod-job.test.ts",
  "miner/evaluate/evaluate-sim-images.test.ts",
  "agent/job/interleaved-pod-job.test.ts",
  "agent/bench/subtle-cheats-compare.test.ts",
  "agent/job/subtle-cheats-pod-job.test.ts",
  "test/e2e/**/*.test.ts",
];

// Tests that need the real services (Docker, registry, S3) find them through the environment
// that `scripts/test-env start` prints; see test/support/services.ts.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: "forks",
    reporters: ["default", ["json", { outputFile: ".vitest-report.json" }]],
    projects: [
      {
        extends: true,
        test: {
          name: "parallel",
          include: ["**/*.test.ts"],
          exclude: [...ignored, ...loopTests],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: "loop",
          include: loopTests,
          exclude: ignored,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
