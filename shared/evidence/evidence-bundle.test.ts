import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ArmRole, EvaluationJobSchema } from "../gen/cacheon/v1/job_pb.ts";
import { RequestMetricsSchema } from "../gen/cacheon/v1/metrics_pb.ts";
import { ArmOutcome, ArmResultSchema } from "../gen/cacheon/v1/result_pb.ts";
import { canonicalJsonBytes, parseCanonicalJson, sha256Hex } from "./canonical-json.ts";
import {
  decodeEvidence,
  type EvidenceBundle,
  encodeEvidence,
  evidenceSchemaName,
  jobSha256,
} from "./evidence-bundle.ts";

function bundle(): EvidenceBundle {
  const job = create(EvaluationJobSchema, {
    jobId: "j1",
    roundId: "r1",
    roundSeed: "5eed",
    arms: [
      {
        armId: "a0",
        role: ArmRole.OPENING_BASELINE,
        image: { repository: "reg/base", digest: `sha256:${"a".repeat(64)}` },
      },
      {
        armId: "a1",
        role: ArmRole.CHALLENGER,
        image: { repository: "reg/miner", digest: `sha256:${"b".repeat(64)}` },
      },
    ],
    uploads: [{ name: "arms/a1/evidence.json", url: "https://bucket/signed?x=1", maxBytes: 10n }],
  });
  return {
    schema: evidenceSchemaName,
    armId: "a1",
    jobSha256: jobSha256(job),
    job,
    hardware: undefined,
    networkMode: "internal",
    agentVersion: "1.2.3",
    judge: { expectedGpus: 0 },
    result: create(ArmResultSchema, {
      armId: "a1",
      outcome: ArmOutcome.MEASURED,
      exitCode: -1,
      startedAtUnixMs: 5n,
    }),
    measurement: {
      requests: [
        create(RequestMetricsSchema, { armId: "a1", promptId: "p0", ok: true, outputTokens: 2, e2eMs: 12.5 }),
      ],
      outputs: [
        {
          repetition: 0,
          requestIndex: 0,
          promptId: "p0",
          kind: "scored",
          ok: true,
          text: "Hi\ud800",
          tokens: [
            { token: "token_id:13048", logprob: -0.01, top: [{ token: "token_id:13048", logprob: -0.01 }] },
            { token: "token_id:0", logprob: Number.NEGATIVE_INFINITY, top: [] },
          ],
          finishReason: "stop",
          tokenTimesMs: [10.25, 12.5],
        },
      ],
    },
    teacherForced: {
      by: "a2",
      state: "done",
      reason: "",
      outputs: [{ repetition: 0, logprobs: [-0.1, -2] }],
    },
    containerLog: { text: "ready\n", truncated: false },
  };
}

describe("encodeEvidence / decodeEvidence", () => {
  it("round-trips a bundle exactly and names it by the sha256 of its canonical bytes", () => {
    const b = bundle();
    const encoded = encodeEvidence(b);
    expect(encoded.sha256).toBe(sha256Hex(encoded.bytes));
    const back = decodeEvidence(encoded.bytes, { expectedSha256: encoded.sha256 });
    expect(back.result.armId).toBe("a1");
    expect(back.result.startedAtUnixMs).toBe(5n);
    expect(back.measurement?.outputs[0]?.text).toBe("Hi\ud800");
    expect(back.measurement?.outputs[0]?.tokens[1]?.logprob).toBe(Number.NEGATIVE_INFINITY);
    expect(back.measurement?.requests[0]?.e2eMs).toBe(12.5);
    expect(back.teacherForced?.outputs).toEqual([{ repetition: 0, logprobs: [-0.1, -2] }]);
    // Encoding what was read gives the same bytes: one content, one digest.
    expect(encodeEvidence(back).sha256).toBe(encoded.sha256);
  });

  it("never carries upload URLs, and the job digest ignores them", () => {
    const b = bundle();
    const encoded = encodeEvidence(b);
    expect(Buffer.from(encoded.bytes).toString()).not.toContain("signed");
    expect(decodeEvidence(encoded.bytes).job.uploads).toEqual([]);
    const without = create(EvaluationJobSchema, { ...b.job, uploads: [] });
    expect(jobSha256(without)).toBe(b.jobSha256);
  });

  it("refuses a bundle whose bytes are not the published digest (one changed logprob)", () => {
    const encoded = encodeEvidence(bundle());
    const text = Buffer.from(encoded.bytes).toString().replace("-0.01,", "-0.02,");
    expect(() => decodeEvidence(Buffer.from(text), { expectedSha256: encoded.sha256 })).toThrow(
      /not the .* it should have: it is not the published bundle/,
    );
  });

  it("refuses a changed job even when the changer recomputed the bundle's own digest", () => {
    const wire = parseCanonicalJson(encodeEvidence(bundle()).bytes) as Record<
      string,
      Record<string, unknown>
    >;
    (wire.job as Record<string, unknown>).roundSeed = "beef";
    expect(() => decodeEvidence(canonicalJsonBytes(wire))).toThrow(
      /jobSha256 .* is not the digest of the job it holds/,
    );
  });

  it.each([
    ["another schema", (w: Record<string, unknown>) => Object.assign(w, { schema: "cacheon.evidence.v0" })],
    ["an unknown field", (w: Record<string, unknown>) => Object.assign(w, { extra: 1 })],
    ["a missing part", (w: Record<string, unknown>) => delete w.containerLog],
    [
      "an output without tokens",
      (w: Record<string, unknown>) =>
        delete (w.measurement as { outputs: Record<string, unknown>[] }).outputs[0]?.tokens,
    ],
    [
      "a result for another arm",
      (w: Record<string, unknown>) => Object.assign(w.result as object, { armId: "a0" }),
    ],
    ["an arm not in the job", (w: Record<string, unknown>) => Object.assign(w, { armId: "a9" })],
    [
      "a protobuf field that does not exist",
      (w: Record<string, unknown>) => Object.assign(w.result as object, { bogus: 1 }),
    ],
  ])("refuses %s with a clear message", (_name, change) => {
    const wire = parseCanonicalJson(encodeEvidence(bundle()).bytes) as Record<string, unknown>;
    change(wire);
    expect(() => decodeEvidence(canonicalJsonBytes(wire), { what: "b.json" })).toThrow(/^b\.json/);
  });

  it("refuses bytes that are not canonical, so nothing can hide beside the content", () => {
    const text = Buffer.from(encodeEvidence(bundle()).bytes).toString();
    expect(() => decodeEvidence(Buffer.from(`${text} `))).toThrow(/not in canonical form/);
  });
});
