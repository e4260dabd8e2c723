import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { PromptVerdict } from "../../shared/gen/cacheon/v1/correctness_pb.ts";
import { WorkloadSpecSchema } from "../../shared/gen/cacheon/v1/workload_pb.ts";
import { type RunningSimLlm, type SimLlmOptions, startSimLlm } from "../../sim-llm/sim-llm-server.ts";
import { compareEndpoints } from "./compare-endpoints.ts";

const servers: RunningSimLlm[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const fast = { prefillBaseMs: 2, prefillMsPerPromptToken: 0, decodeStepBaseMs: 1, decodeStepMsPerRunning: 0 };

async function sim(options: SimLlmOptions = {}): Promise<string> {
  const s = await startSimLlm({ timing: fast, ...options });
  servers.push(s);
  return s.url;
}

/** Long bundled prompts (well over 512 tokens, so a benchmark-detecting server sees a benchmark). */
const workload = create(WorkloadSpecSchema, {
  model: "Qwen/Qwen2.5-72B-Instruct",
  promptSource: "bundled:cacheon-chat-v1",
  promptChars: 4000,
  requests: 4,
  warmupRequests: 1,
  maxTokens: 32,
  topLogprobs: 5,
  repetitions: 2,
  requestTimeoutMs: 30_000,
  stallTimeoutMs: 10_000,
  arrival: { process: { case: "closedLoop", value: { concurrency: 4 } } },
});

async function compare(candidate: SimLlmOptions, timing = fast) {
  return compareEndpoints({
    reference: await sim({ timing }),
    candidate: await sim({ timing, ...candidate }),
    workload,
    roundSeed: "c0ffee",
  });
}

describe("compareEndpoints", () => {
  it("passes honest servers whose numerics differ", async () => {
    for (const numericNoise of [0.02, 0.1]) {
      const r = await compare({ numericNoise, noiseSeed: 7 });
      expect(r.correctness.reasons).toEqual([]);
      expect(r.correctness.passed).toBe(true);
      expect(r.correctness.prompts).toBe(8);
      expect(r.teacherForced).toHaveLength(8);
      expect(r.speedStatistic).toBe("time-to-token-k");
      expect(r.tokenK).toHaveLength(8);
      expect(r.speedRatio).toBeGreaterThan(0);
      for (const e of r.correctness.promptsEvidence) {
        expect(e.verdict).toBe(PromptVerdict.PASS);
        expect(Math.abs(e.teacherForcedMeanLogprob - e.referenceMeanLogprob)).toBeLessThan(0.5);
      }
    }
  });

  it("fails a wrong model, naming every prompt and the reasons", async () => {
    const r = await compare({ mode: "wrong-model" });
    expect(r.correctness.passed).toBe(false);
    expect(r.correctness.promptsFailed).toBe(8);
    const reasons = r.correctness.reasons.join("\n");
    expect(reasons).toMatch(/^divergence-not-in-top-k \(.*\): 8 outputs/m);
    expect(reasons).toMatch(/^teacher-forced-mean \(.*\): 8 outputs/m);
    for (const prompt of r.candidate.prompts) expect(reasons).toContain(prompt.id);
  });

  it("fails perturbed logprobs on the very tokens the reference produced", async () => {
    const r = await compare({ mode: "perturbed-logprobs" });
    expect(r.correctness.passed).toBe(false);
    expect(r.correctness.reasons.join("\n")).toMatch(/^reported-logprobs \(.*\): 8 outputs \(prompts /m);
    for (const e of r.correctness.promptsEvidence) expect(e.diverged).toBe(false);
  });

  it("fails a benchmark-detecting server: its fast answers are the checked answers", async () => {
    // Slow enough steps that the server's timing, not the test machine's CPU, sets the speed.
    const r = await compare(
      { mode: "benchmark-detect" },
      { ...fast, prefillBaseMs: 20, decodeStepBaseMs: 6 },
    );
    expect(r.speedRatio).toBeGreaterThan(1.5);
    expect(r.correctness.passed).toBe(false);
    expect(r.correctness.promptsFailed).toBe(8);
    expect(r.correctness.reasons.join("\n")).toMatch(/^divergence-not-in-top-k/m);
  });

  it("fails an early stop", async () => {
    const r = await compare({ mode: "early-stop" });
    expect(r.correctness.passed).toBe(false);
    const reasons = r.correctness.reasons.join("\n");
    expect(reasons).toMatch(/^too-short/m);
    expect(reasons).toMatch(/^premature-stop/m);
  });
});
