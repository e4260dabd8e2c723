import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import type { GeneratedOutput } from "../../shared/correctness/generated-output.ts";
import { sha256Hex } from "../../shared/evidence/canonical-json.ts";
import { decodeEvidence } from "../../shared/evidence/evidence-bundle.ts";
import { ArmRole, EvaluationJobSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { ArmSummarySchema, RequestMetricsSchema } from "../../shared/gen/cacheon/v1/metrics_pb.ts";
import { ArmOutcome, ArmResultSchema, JobResultSchema } from "../../shared/gen/cacheon/v1/result_pb.ts";
import {
  attachJobEvidence,
  type JobEvidenceInput,
  jobEvidence,
  recordTeacherForcing,
} from "./job-evidence.ts";
import type { ArmRun } from "./run-arm.ts";

const digest = (c: string) => `sha256:${c.repeat(64)}`;

function output(promptId: string, text: string): GeneratedOutput {
  return {
    repetition: 0,
    requestIndex: 0,
    promptId,
    kind: "scored",
    ok: true,
    text,
    tokens: [{ token: "token_id:9707", logprob: -0.25, top: [{ token: "token_id:9707", logprob: -0.25 }] }],
    finishReason: "stop",
    tokenTimesMs: [41.5],
  };
}

function input(): JobEvidenceInput {
  const job = create(EvaluationJobSchema, {
    jobId: "j1",
    roundId: "r1",
    roundSeed: "5eed",
    arms: [
      { armId: "a0", role: ArmRole.OPENING_BASELINE, image: { repository: "base", digest: digest("0") } },
      { armId: "a1", role: ArmRole.CHALLENGER, image: { repository: "miner", digest: digest("1") } },
      { armId: "a2", role: ArmRole.CLOSING_BASELINE, image: { repository: "base", digest: digest("0") } },
    ],
    uploads: [{ name: "arms/a1/evidence.json", url: "https://bucket/signed?sig=secret", maxBytes: 1000n }],
  });
  const armResult = (armId: string, outcome: ArmOutcome) =>
    create(ArmResultSchema, {
      armId,
      outcome,
      logExcerpt: `${armId} excerpt`,
      summary: create(ArmSummarySchema),
    });
  const result = create(JobResultSchema, {
    jobId: "j1",
    completed: true,
    networkMode: "internal",
    arms: [
      armResult("a0", ArmOutcome.MEASURED),
      armResult("a1", ArmOutcome.MEASURED),
      armResult("a2", ArmOutcome.NEVER_READY),
    ],
  });
  const run = (armId: string, text: string): ArmRun => ({
    result: result.arms.find((a) => a.armId === armId) ?? armResult(armId, ArmOutcome.MEASURED),
    measurement: {
      summary: create(ArmSummarySchema),
      requests: [create(RequestMetricsSchema, { armId, promptId: "p0", ok: true, outputTokens: 1 })],
      outputs: [output("p0", text)],
      prompts: [],
    },
  });
  return {
    job,
    result,
    runs: new Map([
      ["a0", run("a0", "Hello")],
      ["a1", run("a1", "Hello")],
    ]),
    judgedFrom: new Map([["a1", create(ArmResultSchema, { armId: "a1", outcome: ArmOutcome.MEASURED })]]),
    teacherForced: new Map([["a1", { by: "a2", state: "failed", reason: "reference down", outputs: [] }]]),
    logs: new Map([["a0", { text: "a0 full log", truncated: true }]]),
    judge: { expectedGpus: 8 },
    agentVersion: "0.1.0+gabc",
  };
}

describe("jobEvidence / attachJobEvidence", () => {
  it("makes one bundle per arm, measured or not, each holding what re-judging it needs", () => {
    const bundles = jobEvidence(input());
    expect(bundles.map((b) => b.armId)).toEqual(["a0", "a1", "a2"]);
    const [a0, a1, a2] = bundles;
    // One job, one job digest; its upload URLs (which expire and carry signatures) left out.
    expect(new Set(bundles.map((b) => b.jobSha256)).size).toBe(1);
    expect(a1?.job.uploads).toEqual([]);
    expect(a1?.measurement?.outputs[0]?.tokenTimesMs).toEqual([41.5]);
    expect(a1?.teacherForced).toMatchObject({ by: "a2", state: "failed", reason: "reference down" });
    expect(a0?.teacherForced).toBeUndefined();
    expect(a1?.judgedFrom?.armId).toBe("a1");
    expect(a0?.judgedFrom).toBeUndefined();
    // The captured log when there is one, else the result's excerpt.
    expect(a0?.containerLog).toEqual({ text: "a0 full log", truncated: true });
    expect(a2?.containerLog).toEqual({ text: "a2 excerpt", truncated: false });
    expect(a2?.measurement).toBeUndefined();
    expect(a2?.judge.expectedGpus).toBe(8);
  });

  it("lists each bundle's digest in the result and hands over exactly the bytes it names", () => {
    const job = input();
    const handed = new Map<string, Uint8Array>();
    attachJobEvidence({ ...job, artefact: (name, body) => handed.set(name, body), onProblem: () => {} });
    expect(job.result.evidence.map((e) => e.name)).toEqual([
      "arms/a0/evidence.json",
      "arms/a1/evidence.json",
      "arms/a2/evidence.json",
    ]);
    for (const e of job.result.evidence) {
      const body = handed.get(e.name);
      if (!body) throw new Error(`nothing handed for ${e.name}`);
      expect(sha256Hex(body)).toBe(e.sha256);
      expect(Number(e.sizeBytes)).toBe(body.byteLength);
      expect(decodeEvidence(body, { expectedSha256: e.sha256 }).armId).toBe(e.armId);
      expect(Buffer.from(body).toString()).not.toContain("secret");
    }
  });

  it("keeps the digests when handing over fails: the job's verdicts stand, the loss is reported", () => {
    const job = input();
    const problems: string[] = [];
    attachJobEvidence({
      ...job,
      artefact: () => {
        throw new Error("disk full");
      },
      onProblem: (armId, error) => problems.push(`${armId}: ${error.message}`),
    });
    expect(job.result.evidence).toHaveLength(3);
    expect(problems).toEqual(["a0: disk full", "a1: disk full", "a2: disk full"]);
  });
});

describe("recordTeacherForcing", () => {
  it("records what the reference returned for each arm's outputs, and its failures", async () => {
    const outputsA1 = [output("p0", "x")];
    const outputsA3 = [output("p0", "y")];
    let fail = false;
    const { teacherForce, recorded } = recordTeacherForcing(
      async ({ outputs }) => {
        if (fail) throw new Error("reference crashed");
        return outputs.map(() => ({ promptId: "p0" }) as never);
      },
      { by: () => "a2", armOf: (outputs) => (outputs === outputsA1 ? "a1" : "a3") },
    );
    const common = {
      endpoint: "http://x",
      workload: {} as never,
      prompts: [],
      signal: new AbortController().signal,
    };
    await teacherForce({ ...common, outputs: outputsA1 });
    fail = true;
    await expect(teacherForce({ ...common, outputs: outputsA3 })).rejects.toThrow(/reference crashed/);
    expect(recorded.get("a1")).toEqual({
      by: "a2",
      state: "done",
      reason: "",
      outputs: [{ promptId: "p0" }],
    });
    expect(recorded.get("a3")).toMatchObject({ state: "failed", reason: "reference crashed", outputs: [] });
  });
});
