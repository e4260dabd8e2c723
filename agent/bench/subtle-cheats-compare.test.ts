import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { WorkloadSpecSchema } from "../../shared/gen/cacheon/v1/workload_pb.ts";
import { type RunningSimLlm, type SimLlmOptions, startSimLlm } from "../../sim-llm/sim-llm-server.ts";
import { compareEndpoints } from "./compare-endpoints.ts";

// Each subtle cheat of issue 14 against the reference server, through the whole compare path
// (measure both, teacher force every output, judge): refused with a named reason. The repeat and
// per-request speed checks measure time, so this file runs with the loop tests (vitest.config.ts).
const servers: RunningSimLlm[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const timing = {
  prefillBaseMs: 20,
  prefillMsPerPromptToken: 0,
  decodeStepBaseMs: 4,
  decodeStepMsPerRunning: 0,
};

async function sim(options: SimLlmOptions = {}): Promise<string> {
  const s = await startSimLlm({ timing, ...options });
  servers.push(s);
  return s.url;
}

/** Prompts from the bundled pool, repeated in every repetition (a pool workload). */
const workload = create(WorkloadSpecSchema, {
  model: "Qwen/Qwen2.5-72B-Instruct",
  promptSource: "bundled:cacheon-chat-v1",
  promptChars: 2000,
  requests: 8,
  warmupRequests: 1,
  maxTokens: 48,
  topLogprobs: 5,
  repetitions: 3,
  requestTimeoutMs: 30_000,
  stallTimeoutMs: 10_000,
  arrival: { process: { case: "closedLoop", value: { concurrency: 4 } } },
});

async function compare(candidate: SimLlmOptions) {
  return compareEndpoints({
    reference: await sim({
      numericNoise: 0.02,
      noiseSeed: 1,
      ...(candidate.timing ? { timing: candidate.timing } : {}),
    }),
    candidate: await sim(candidate),
    workload,
    roundSeed: "5eed14",
  });
}

/** The failure codes the verdict names, from its reason lines. */
const codes = (r: Awaited<ReturnType<typeof compare>>) =>
  r.correctness.reasons.map((line) => line.split(" ")[0]).filter((c) => /^[a-z-]+$/.test(c ?? ""));

describe("compare refuses the subtle cheats with a named reason", () => {
  it("passes an honest server with other numerics: the control", async () => {
    const r = await compare({ numericNoise: 0.05, noiseSeed: 2 });
    expect(r.correctness.reasons).toEqual([]);
    expect(r.correctness.passed).toBe(true);
    expect(r.candidate.summary.findings, r.candidate.summary.findings.join("\n")).toEqual([]);
  });

  it("truncation just above the length rule: the model would not have stopped there", async () => {
    const r = await compare({ mode: "truncate" });
    expect(r.correctness.passed).toBe(false);
    expect(codes(r)).toContain("premature-stop");
    expect(codes(r)).not.toContain("too-short");
  });

  it("a near-tie, then junk with unknown token ids", async () => {
    const r = await compare({ mode: "near-tie-junk-ids" });
    expect(r.correctness.passed).toBe(false);
    expect(codes(r), r.correctness.reasons.join("\n")).toContain("unknown-token-id");
  });

  it("a near-tie, then junk of valid ids with other text", async () => {
    const r = await compare({ mode: "near-tie-junk-text" });
    expect(r.correctness.passed).toBe(false);
    expect(codes(r)).toContain("text-mismatch");
  });

  it("a near-tie, then junk of real tokens: teacher forcing over the whole output", async () => {
    const r = await compare({ mode: "near-tie-junk" });
    expect(r.correctness.passed).toBe(false);
    expect(r.correctness.noDecisionReason).toBe("");
    expect(codes(r)).toContain("teacher-forced-rank");
  });

  it("a partial replay cache, 15% faster on repeats: under the old 25% alarm, over the baseline's", async () => {
    // Longer steps: the repeat check needs the probes' timing to stand clear of this machine's noise.
    const r = await compare({ mode: "partial-replay", timing: { ...timing, decodeStepBaseMs: 25 } });
    expect(r.correctness.passed).toBe(true);
    expect(r.candidate.summary.findings.join("\n")).toMatch(/^repeat-speedup: /m);
  });

  it("a table of precomputed answers for half the pool: those requests stand out", async () => {
    const r = await compare({ mode: "precomputed-table" });
    expect(r.correctness.passed).toBe(true);
    expect(r.candidate.summary.findings.join("\n")).toMatch(/^speed-outliers: /m);
  });

  it("honest only on prompts taken for canaries: every output is judged", async () => {
    const r = await compare({ mode: "canary-honest" });
    expect(r.correctness.passed).toBe(false);
    expect(r.correctness.promptsFailed).toBeGreaterThan(r.correctness.prompts / 2);
    expect(codes(r)).toContain("divergence-not-in-top-k");
  });
});
