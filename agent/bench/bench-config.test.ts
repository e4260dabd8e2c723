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

  it("makes fresh prompts with canaries and probes for --prompt-tokens, new on every run", () => {
    const flags = {
      model: "m",
      "prompt-tokens": "200",
      requests: "2",
      repetitions: "2",
      warmup: "1",
      seed: "ab",
    };
    const r = loadWorkloadConfig({ ...flags, canaries: "1", probes: "1" }, {});
    expect(r.workload).toMatchObject({
      promptSource: "generated:cacheon-gen-v1/cacheon-corpus-v1",
      promptTokens: 200,
      canaryRequests: 1,
      probePrompts: 1,
    });
    expect(r.schedule?.warmup).toHaveLength(1);
    expect(r.schedule?.repetitions.map((rep) => rep.map((p) => p.kind).sort())).toEqual([
      ["canary", "probe", "scored", "scored"],
      ["canary", "probe", "scored", "scored"],
    ]);
    // Same seed, another run: another secret, other prompts.
    const again = loadWorkloadConfig({ ...flags, canaries: "1", probes: "1" }, {});
    expect(again.schedule?.repetitions[0]?.[0]?.messages).not.toEqual(
      r.schedule?.repetitions[0]?.[0]?.messages,
    );
    expect(() => loadWorkloadConfig({ ...flags, prompts: "/nonexistent.jsonl" }, {})).toThrow();
  });

  it("reports every bad setting at once", () => {
    expect(() => loadWorkloadConfig({ requests: "0", "top-logprobs": "50", rate: "-1" }, {})).toThrow(
      /4 problems[\s\S]*--requests: 0 is below the minimum 1[\s\S]*--rate: -1 is below the minimum 0[\s\S]*--top-logprobs: 50 is above the maximum 20[\s\S]*model: required/,
    );
  });
});
