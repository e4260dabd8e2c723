import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadWorkloadConfig } from "./bench-config.ts";

describe("loadWorkloadConfig", () => {
  it("takes the file, then CACHEON_BENCH_* variables, then flags", () => {
    const dir = mkdtempSync(join(tmpdir(), "cacheon-bench-config-"));
    const file = join(dir, "bench.yaml");
    writeFileSync(file, "model: m-file\nrequests: 7\nmaxTokens: 99\nrate: 2.5\nconcurrency: 3\n");
    const r = loadWorkloadConfig(
      { config: file, requests: "9", seed: "abcd" },
      { CACHEON_BENCH_MAX_TOKENS: "64" },
    );
    expect(r.seed).toBe("abcd");
    expect(r.prompts).toBeUndefined();
    expect(r.workload).toMatchObject({
      model: "m-file",
      requests: 9,
      maxTokens: 64,
      promptSource: "bundled:cacheon-chat-v1",
    });
    expect(r.workload.arrival?.process).toEqual({
      case: "poisson",
      value: expect.objectContaining({ ratePerS: 2.5, maxConcurrency: 3 }),
    });
  });

  it("defaults to a closed loop and a random hex seed, and hashes a private prompt file", () => {
    const dir = mkdtempSync(join(tmpdir(), "cacheon-bench-config-"));
    const prompts = join(dir, "p.jsonl");
    writeFileSync(prompts, '{"id":"x","prompt":"hello"}\n');
    const r = loadWorkloadConfig({ model: "m", prompts }, {});
    expect(r.seed).toMatch(/^[0-9a-f]{32}$/);
    expect(r.workload.arrival?.process).toEqual({
      case: "closedLoop",
      value: expect.objectContaining({ concurrency: 1 }),
    });
    expect(r.workload.promptSource).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(r.prompts?.map((p) => p.id)).toEqual(["x"]);
    expect(r.workload).toMatchObject({
      requests: 10,
      maxTokens: 512,
      topLogprobs: 5,
      warmupRequests: 2,
      repetitions: 1,
    });
  });

  it("reports every bad setting at once", () => {
    expect(() => loadWorkloadConfig({ requests: "0", "top-logprobs": "50", rate: "-1" }, {})).toThrow(
      /4 problems[\s\S]*--requests: 0 is below the minimum 1[\s\S]*--rate: -1 is below the minimum 0[\s\S]*--top-logprobs: 50 is above the maximum 20[\s\S]*model: required/,
    );
  });
});
