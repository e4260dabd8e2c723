import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { CacheonError } from "../errors/cacheon-error.ts";
import { type EvaluationJob, EvaluationJobSchema } from "../gen/cacheon/v1/job_pb.ts";
import { generatesPrompts, jobPrompts, withJobPrompts } from "./job-prompts.ts";
import { parsePromptSecret } from "./prompt-key.ts";
import { smallGeneratedWorkload } from "./testing/small-generated-workload.ts";

const secret = parsePromptSecret("7e".repeat(32));
const job = (seed: string): EvaluationJob =>
  create(EvaluationJobSchema, { jobId: `j-${seed}`, roundSeed: seed, workload: smallGeneratedWorkload });

describe("jobPrompts", () => {
  it("plans the workload's counts from the secret and the job's seed, the same every time", async () => {
    const a = await jobPrompts(job("aa"), secret);
    expect(a.generator).toBe("cacheon-gen-v1/cacheon-corpus-v1");
    expect(a.prompts).toHaveLength(1 + 1 + 2 * (3 + 1));
    expect(a.repetitions.map((r) => r.requests.length)).toEqual([5, 5]);
    expect(a.prompts.every((p) => p.promptTokens <= 200 && p.promptTokens > 150)).toBe(true);
    expect(await jobPrompts(job("aa"), secret)).toEqual(a);
    // A reproduction runs with a derived seed: other prompts.
    const b = await jobPrompts(job("bb"), secret);
    expect(b.prompts.map((p) => p.messages)).not.toEqual(a.prompts.map((p) => p.messages));
    // Another validator's secret: other prompts from the same seed.
    const other = await jobPrompts(job("aa"), parsePromptSecret("7f".repeat(32)));
    expect(other.prompts.map((p) => p.messages)).not.toEqual(a.prompts.map((p) => p.messages));
  });

  it("fails closed without a secret", async () => {
    await expect(jobPrompts(job("aa"), undefined)).rejects.toThrow(CacheonError);
    await expect(jobPrompts(job("aa"), undefined)).rejects.toThrow(
      /validatorSecret is not set.*--new-secret/,
    );
  });

  it("attaches the prompts to a copy and names their generator and corpus", async () => {
    const original = job("aa");
    const ready = await withJobPrompts(original, secret);
    expect(original.prompts).toBeUndefined();
    expect(ready.prompts?.prompts).toHaveLength(10);
    expect(ready.workload?.promptSource).toBe("generated:cacheon-gen-v1/cacheon-corpus-v1");
    expect(generatesPrompts(original)).toBe(true);
    expect(generatesPrompts(create(EvaluationJobSchema, { workload: { promptSource: "bundled:x" } }))).toBe(
      false,
    );
  });
});
