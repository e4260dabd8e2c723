import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { gpuActivityOf, gpuProofFindings, type SampledGpuActivity } from "./gpu-proof.ts";

// One sample of a real 2x H200 (test/fixtures/nvidia-smi/h200-x2-firecracker), as the GPU sampler
// would summarise it: "busy" while a PyTorch process (pid 972) ran matrix products on GPU 0,
// "idle" with nothing running.
const fixtures = join(
  import.meta.dirname,
  "..",
  "..",
  "test",
  "fixtures",
  "nvidia-smi",
  "h200-x2-firecracker",
);
function capture(state: "busy" | "idle"): SampledGpuActivity {
  const rows = (file: string) =>
    readFileSync(join(fixtures, state, file), "utf8")
      .trim()
      .split("\n")
      .slice(1)
      .map((line) => line.split(",").map((f) => f.trim()));
  const pids = rows("apps.csv").map((r) => Number(r[0]));
  return {
    startedAtMs: 0,
    stoppedAtMs: 60_000,
    intervalMs: 500,
    problems: [],
    gpus: rows("query.csv").map((r) => {
      const util = Number.parseInt(r[18] ?? "", 10);
      const memory = Number.parseInt(r[6] ?? "", 10);
      return {
        index: Number(r[0]),
        uuid: r[2] ?? "",
        samples: 120,
        meanUtilizationPercent: util,
        maxUtilizationPercent: util,
        activeFraction: util > 0 ? 1 : 0,
        maxMemoryUsedMib: memory,
        // apps.csv does not say which GPU; the busy capture's one process is on GPU 0 (q.xml).
        pids: memory > 1024 ? pids : [],
      };
    }),
  };
}

describe("gpuActivityOf", () => {
  it("keeps each GPU's figures and marks the GPUs the arm's container had a process on", () => {
    const activity = gpuActivityOf(capture("busy"), [972, 1001]);
    expect(activity.windowS).toBe(60);
    expect(
      activity.gpus.map((g) => [g.index, g.meanUtilizationPercent, Number(g.maxMemoryUsedMib), g.armProcess]),
    ).toEqual([
      [0, 100, 21877, true],
      [1, 0, 4, false],
    ]);
    expect(activity.containerPids).toEqual([972, 1001]);
  });
});

/** The sampler's own output on a real 4x H200 (a matmul loop on GPU 0; GPU 1 held by a sleeping process). */
const real = (state: "busy" | "idle"): SampledGpuActivity =>
  JSON.parse(
    readFileSync(join(fixtures, "..", "nvidia-h200-x4-real", `gpu-activity-${state}.json`), "utf8"),
  ) as SampledGpuActivity;

describe("gpuProofFindings on the sampler's real 4x H200 figures", () => {
  it("passes an arm whose process kept its GPU busy (pid 2463, 97.3%)", () => {
    expect(gpuProofFindings(gpuActivityOf(real("busy"), [2463]), { expectedGpus: 4 })).toEqual([]);
  });

  it("flags an arm whose process held 8.8 GiB but computed nothing (pid 2464), though another GPU was busy", () => {
    expect(gpuProofFindings(gpuActivityOf(real("busy"), [2464]), { expectedGpus: 4 })).toEqual([
      expect.stringMatching(
        /^the GPUs the arm's processes held stayed idle while the arm was timed \(busiest 0\.0%/,
      ),
    ]);
  });

  it("flags an arm with no process on an idle machine", () => {
    expect(gpuProofFindings(gpuActivityOf(real("idle"), [7]), { expectedGpus: 4 })).toHaveLength(2);
  });
});

describe("gpuProofFindings", () => {
  it("raises nothing for an arm whose own process kept a GPU busy", () => {
    expect(gpuProofFindings(gpuActivityOf(capture("busy"), [972]), { expectedGpus: 2 })).toEqual([]);
  });

  it("flags a busy GPU held by someone else's process: the arm's answers did not come from it", () => {
    expect(gpuProofFindings(gpuActivityOf(capture("busy"), [5555]), { expectedGpus: 2 })).toEqual([
      expect.stringMatching(/^no process of the arm's container held memory on any GPU/),
    ]);
  });

  it("flags idle GPUs: an arm answering from a table or the CPU", () => {
    expect(gpuProofFindings(gpuActivityOf(capture("idle"), [5555]), { expectedGpus: 2 })).toEqual([
      expect.stringMatching(/^no process of the arm's container/),
      expect.stringMatching(
        /^the GPUs stayed idle while the arm was timed \(busiest 0\.0% on average, at least 10% expected\)/,
      ),
    ]);
  });

  it("fails closed when the figures are missing or incomplete", () => {
    const noSampler = gpuActivityOf(
      { ...capture("busy"), gpus: [], problems: ["no GPU sampler in this agent"] },
      [972],
    );
    expect(gpuProofFindings(noSampler, { expectedGpus: 8 })).toEqual([
      "GPU use during the timed window could not be proven: 0 of 8 GPUs sampled (no GPU sampler in this agent)",
    ]);
    expect(gpuProofFindings(gpuActivityOf(capture("busy"), [972]), { expectedGpus: 8 })).toEqual([
      "GPU use during the timed window could not be proven: 2 of 8 GPUs sampled",
    ]);
  });
});
