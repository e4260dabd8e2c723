import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { WorkloadSpecSchema } from "../../shared/gen/cacheon/v1/workload_pb.ts";
import type { LogFields, Logger } from "../../shared/log/logger.ts";
import { type RunningSimLlm, startSimLlm } from "../../sim-llm/sim-llm-server.ts";
import type { Prompt } from "../workload/prompt.ts";
import { runWorkload } from "./run-workload.ts";
import { teacherForce } from "./teacher-force.ts";

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

async function outputsOf(url: string, tokenIds: boolean) {
  const run = await runWorkload({
    endpoint: url,
    prompts,
    roundSeed: "1234",
    tokenIds,
    workload: create(WorkloadSpecSchema, {
      model,
      requests: 3,
      maxTokens: 12,
      topLogprobs: 3,
      repetitions: 1,
      arrival: { process: { case: "closedLoop", value: { concurrency: 3 } } },
    }),
  });
  return run;
}

function recordingLogger(lines: { message: string; fields?: LogFields }[]): Logger {
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (message, fields) => lines.push({ message, fields }),
    error: (message, fields) => lines.push({ message, fields }),
    child: () => logger,
  };
  return logger;
}

describe("teacherForce", () => {
  it("scores the reference's own greedy output at its own logprobs", async () => {
    const ref = await startSimLlm({ timing });
    servers.push(ref);
    const run = await outputsOf(ref.url, true);
    const scores = await teacherForce({
      reference: ref.url,
      model,
      outputs: run.outputs,
      prompts: run.prompts,
    });
    expect(scores).toHaveLength(3);
    for (const s of scores) {
      const out = run.outputs[s.requestIndex];
      const own = (out?.tokens ?? []).reduce((a, t) => a + t.logprob, 0) / (out?.tokens.length ?? 1);
      expect(s.meanLogprob).toBeCloseTo(own, 6);
    }
  });

  it("tokenizes the text of a candidate that sent no token ids, and scores a wrong model lower", async () => {
    const ref = await startSimLlm({ timing });
    const wrong = await startSimLlm({ timing, mode: "wrong-model" });
    servers.push(ref, wrong);
    const ownRun = await outputsOf(ref.url, false);
    const wrongRun = await outputsOf(wrong.url, false);
    expect(ownRun.outputs[0]?.tokens[0]?.token).not.toMatch(/^token_id:/);
    const own = await teacherForce({
      reference: ref.url,
      model,
      outputs: ownRun.outputs,
      prompts: ownRun.prompts,
    });
    const theirs = await teacherForce({
      reference: ref.url,
      model,
      outputs: wrongRun.outputs,
      prompts: wrongRun.prompts,
    });
    expect(own).toHaveLength(3);
    expect(theirs).toHaveLength(3);
    for (let i = 0; i < 3; i++) {
      const out = ownRun.outputs[i];
      const greedy = (out?.tokens ?? []).reduce((a, t) => a + t.logprob, 0) / (out?.tokens.length ?? 1);
      expect(own[i]?.meanLogprob).toBeCloseTo(greedy, 6);
      expect((theirs[i]?.meanLogprob ?? 0) < greedy - 0.5).toBe(true);
    }
  });

  it("skips failed outputs and logs, not throws, when the reference cannot score", async () => {
    const ref = await startSimLlm({ timing });
    servers.push(ref);
    const run = await outputsOf(ref.url, true);
    const lines: { message: string; fields?: LogFields }[] = [];
    const outputs = run.outputs.map((o, i) => (i === 0 ? { ...o, ok: false } : o));
    const scores = await teacherForce({
      reference: `${ref.url}/nothing-here`,
      model,
      outputs,
      prompts: run.prompts,
      logger: recordingLogger(lines),
    });
    expect(scores).toEqual([]);
    expect(lines).toHaveLength(2);
    expect(String(lines[0]?.fields?.error)).toMatch(/reference .*\/tokenize answered HTTP 404/);
    const none = await teacherForce({
      reference: "http://127.0.0.1:1",
      model,
      outputs: run.outputs.slice(1, 2),
      prompts: run.prompts,
      logger: recordingLogger(lines),
    });
    expect(none).toEqual([]);
    expect(String(lines.at(-1)?.fields?.error)).toMatch(/did not answer/);
  });
});
