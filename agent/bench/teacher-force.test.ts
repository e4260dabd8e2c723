import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { teacherForcedFigures } from "../../shared/correctness/teacher-forced-output.ts";
import { WorkloadSpecSchema } from "../../shared/gen/cacheon/v1/workload_pb.ts";
import { qwenTokenizer } from "../../shared/tokenizer/qwen-tokenizer.ts";
import { type RunningSimLlm, startSimLlm } from "../../sim-llm/sim-llm-server.ts";
import type { Prompt } from "../workload/prompt.ts";
import { runWorkload } from "./run-workload.ts";
import { type TeacherForceOptions, teacherForce } from "./teacher-force.ts";

const model = "Qwen/Qwen2.5-72B-Instruct";
const servers: RunningSimLlm[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const timing = {
  prefillBaseMs: 0,
  prefillMsPerPromptToken: 0,
  decodeStepBaseMs: 0,
  decodeStepMsPerRunning: 0,
};
const prompts: Prompt[] = Array.from({ length: 3 }, (_, i) => ({
  id: `p${i}`,
  messages: [{ role: "user", content: `Tell me about the number ${i + 11} in a few words.` }],
}));

async function sim(mode?: "wrong-model"): Promise<RunningSimLlm> {
  const s = await startSimLlm({ timing, ...(mode ? { mode } : {}) });
  servers.push(s);
  return s;
}

async function outputsOf(url: string, maxTokens = 12) {
  return runWorkload({
    endpoint: url,
    prompts,
    roundSeed: "1234",
    workload: create(WorkloadSpecSchema, {
      model,
      requests: 3,
      maxTokens,
      topLogprobs: 3,
      repetitions: 1,
      arrival: { process: { case: "closedLoop", value: { concurrency: 3 } } },
    }),
  });
}

const force = (options: Omit<TeacherForceOptions, "model" | "tokenizer">) =>
  teacherForce({ model, tokenizer: qwenTokenizer(), topK: 3, ...options });

describe("teacherForce", () => {
  it("scores every token of the reference's own greedy output at its own logprobs, ranks first", async () => {
    const ref = await sim();
    const run = await outputsOf(ref.url);
    const scores = await force({ reference: ref.url, outputs: run.outputs, prompts: run.prompts });
    expect(scores).toHaveLength(3);
    for (const s of scores) {
      const out = run.outputs[s.requestIndex];
      expect(s.logprobs).toHaveLength(out?.tokens.length ?? -1);
      s.logprobs.forEach((lp, i) => {
        expect(lp).toBeCloseTo(out?.tokens[i]?.logprob ?? 0, 6);
      });
      expect(s.ranks.every((r) => r === 1)).toBe(true);
      expect(teacherForcedFigures(s).maxGap).toBe(0);
    }
  });

  it("scores the end of turn after an output that stopped: the model's own stop is its best token", async () => {
    const ref = await sim();
    // Long enough for every answer to end on its own.
    const run = await outputsOf(ref.url, 480);
    const stopped = run.outputs.filter((o) => o.finishReason === "stop");
    expect(stopped.length).toBeGreaterThan(0);
    const scores = await force({ reference: ref.url, outputs: stopped, prompts: run.prompts });
    for (const s of scores) {
      expect(s.stop?.rank).toBe(1);
      expect(teacherForcedFigures(s).stopGap).toBe(0);
    }
    // Cut short, the same answer stops where the model would go on.
    const cut = stopped.map((o) => ({ ...o, tokens: o.tokens.slice(0, 5) }));
    for (const s of await force({ reference: ref.url, outputs: cut, prompts: run.prompts })) {
      expect(teacherForcedFigures(s).stopGap).toBeGreaterThan(1);
    }
  });

  it("scores another model's output lower, with gaps to the reference's best", async () => {
    const ref = await sim();
    const wrong = await sim("wrong-model");
    const run = await outputsOf(wrong.url);
    const scores = await force({ reference: ref.url, outputs: run.outputs, prompts: run.prompts });
    expect(scores).toHaveLength(3);
    for (const s of scores) {
      const out = run.outputs[s.requestIndex];
      const reported = (out?.tokens ?? []).reduce((a, t) => a + t.logprob, 0) / (out?.tokens.length ?? 1);
      const f = teacherForcedFigures(s);
      expect(f.meanLogprob).toBeLessThan(reported - 0.5);
      expect(f.maxGap).toBeGreaterThan(1);
    }
  });

  it("leaves out outputs that cannot be what they claim, and throws when the reference fails", async () => {
    const ref = await sim();
    const run = await outputsOf(ref.url);
    const outputs = run.outputs.map((o, i) =>
      i === 0
        ? { ...o, ok: false }
        : i === 1
          ? { ...o, tokens: o.tokens.map((t) => ({ ...t, token: "x" })) }
          : o,
    );
    const scores = await force({ reference: ref.url, outputs, prompts: run.prompts });
    expect(scores.map((s) => s.requestIndex)).toEqual([2]);
    await expect(
      force({ reference: `${ref.url}/nothing-here`, outputs, prompts: run.prompts }),
    ).rejects.toThrow(/reference .*\/tokenize answered HTTP 404/);
    await expect(force({ reference: "http://127.0.0.1:1", outputs, prompts: run.prompts })).rejects.toThrow(
      /did not answer/,
    );
  });
});
