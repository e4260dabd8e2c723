import { describe, expect, it } from "vitest";
import { PromptVerdict } from "../gen/cacheon/v1/correctness_pb.ts";
import { type CompareOutputsInput, compareOutputs } from "./compare-outputs.ts";
import { defaultThresholds, resolveThresholds } from "./correctness-thresholds.ts";
import type { GeneratedOutput, GeneratedToken } from "./generated-output.ts";
import { tokenIdOf } from "./generated-output.ts";
import { forced, id, output, tok, tokenizer } from "./testing/judge-fixtures.ts";

const [A, B, C, D, E, X, Q] = [" a", " b", " c", " d", " e", " x", " q"].map(id) as [
  number,
  number,
  number,
  number,
  number,
  number,
  number,
];

const ref = [tok(A, -0.1, [[X, -3]]), tok(B, -0.5, [[C, -0.52]]), tok(D, -0.2), tok(E, -0.3)];
const request = { maxTokens: 4 };

/** Judges candidate outputs against reference ones, each teacher forced as given (default: agreeing). */
function judge(
  reference: GeneratedOutput[],
  candidate: GeneratedOutput[],
  over: Partial<CompareOutputsInput> = {},
) {
  return compareOutputs({
    reference,
    candidate,
    teacherForced: candidate.map((c) => forced(c)),
    referenceTeacherForced: reference.map((r) => forced(r)),
    request,
    tokenizer,
    ...over,
  });
}

const only = (s: ReturnType<typeof compareOutputs>) => s.promptsEvidence[0];

describe("compareOutputs: one output", () => {
  it("passes identical outputs with small logprob noise, filling the evidence", () => {
    const cand = output(ref.map((t) => ({ ...t, logprob: t.logprob + 0.01 })));
    const s = judge([output(ref)], [cand]);
    expect(s.passed, s.reasons.join("\n")).toBe(true);
    const e = only(s);
    expect(e?.verdict).toBe(PromptVerdict.PASS);
    expect(e?.diverged).toBe(false);
    expect(e?.sharedPrefixTokens).toBe(4);
    expect(e?.maxPrefixLogprobDiff).toBeCloseTo(0.01, 10);
    expect(e?.referenceMeanLogprob).toBeCloseTo(-0.275, 10);
    expect(e?.teacherForcedTokens).toBe(4);
    expect(e?.maxTeacherForcedGap).toBe(0);
    expect(e?.minTeacherForcedLogprob).toBeCloseTo(-0.49, 10);
    expect(e?.retokenizedTokens).toBe(4);
    expect(e?.kind).toBe("scored");
    expect(s.thresholds).toContain("teacher_forcing=done");
  });

  it("passes a divergence at a near-tie, each token in the other's top-k, whatever follows is the model's", () => {
    const cand = output([ref[0] as GeneratedToken, tok(C, -0.5, [[B, -0.51]]), tok(Q, -0.4), tok(E, -0.2)]);
    const s = judge([output(ref)], [cand], {
      teacherForced: [forced(cand, { bestLogprobs: [-0.1, -0.48, -0.4, -0.2], ranks: [1, 2, 1, 1] })],
    });
    expect(s.passed, s.reasons.join("\n")).toBe(true);
    const e = only(s);
    expect(e?.diverged).toBe(true);
    expect(e?.sharedPrefixTokens).toBe(1);
    expect(e?.candidateTokenInReferenceTopK).toBe(true);
    expect(e?.divergenceLogprobGap).toBeCloseTo(0.02, 10);
    expect(e?.maxTeacherForcedGap).toBeCloseTo(0.02, 10);
    expect(e?.maxGapPosition).toBe(1);
  });

  it("fails a divergent token outside the reference's top-k, and a large gap at the divergence", () => {
    const outside = output([ref[0] as GeneratedToken, tok(Q, -0.1), tok(D, -0.2), tok(E, -0.3)]);
    expect(only(judge([output(ref)], [outside]))?.reasonCodes).toEqual(["divergence-not-in-top-k"]);
    const far = output([tok(X, -3, [[A, -0.1]]), ...ref.slice(1)]);
    const e = only(judge([output(ref)], [far]));
    expect(e?.divergenceLogprobGap).toBeCloseTo(2.9, 10);
    // Its mean log-likelihood is far below the reference's too.
    expect(e?.reasonCodes).toEqual(["divergence-gap", "teacher-forced-mean"]);
  });

  it("fails reported logprobs that are not the model's, on the prefix and under teacher forcing", () => {
    const shifted = output(ref.map((t, i) => ({ ...t, logprob: t.logprob - (i === 2 ? 0.9 : 0) })));
    const s = judge([output(ref)], [shifted], { teacherForced: [forced(output(ref))] });
    expect(only(s)?.reasonCodes).toEqual(["reported-logprobs"]);
    expect(s.reasons[0]).toMatch(
      /^reported-logprobs \(the logprobs the candidate reported are not the reference model's/,
    );
    // The same tokens, reported as the reference streamed them, but not what the model gives them.
    const liar = judge([output(ref)], [output(ref)], {
      teacherForced: [forced(output(ref), { logprobs: [-0.1, -0.5, -1.5, -0.3] })],
    });
    expect(only(liar)?.reasonCodes).toContain("reported-logprobs");
  });

  it("scores the whole output: junk after the first divergence fails however plausible the divergence", () => {
    // Near-tie divergence at token 1, then tokens the reference ranks low.
    const junk = output([ref[0] as GeneratedToken, tok(C, -0.5, [[B, -0.51]]), tok(Q, -0.1), tok(X, -0.1)]);
    const tf = forced(junk, {
      logprobs: [-0.1, -0.5, -6, -9],
      bestLogprobs: [-0.1, -0.48, -0.2, -0.1],
      ranks: [1, 2, 40, 300],
    });
    const e = only(judge([output(ref)], [junk], { teacherForced: [tf] }));
    expect(e?.verdict).toBe(PromptVerdict.FAIL);
    expect(e?.reasonCodes).toEqual([
      "teacher-forced-rank",
      "teacher-forced-min",
      "teacher-forced-mean",
      "reported-logprobs",
    ]);
    expect(e?.reason).toMatch(/teacher-forced-rank: the reference ranks token 2 40, below its top-5/);
    // Within the top-k but far from the best.
    const gap = only(
      judge([output(ref)], [output(ref)], {
        teacherForced: [forced(output(ref), { bestLogprobs: [-0.1, -0.5, 2, -0.3], ranks: [1, 1, 2, 1] })],
      }),
    );
    expect(gap?.reasonCodes).toEqual(["teacher-forced-gap"]);
    expect(gap?.maxGapPosition).toBe(2);
  });

  it("fails a stop where the reference would not end its turn, and passes one where it would", () => {
    const stopped = output(ref, { finishReason: "stop" });
    const early = forced(stopped, { stop: { logprob: -7, bestLogprob: -0.01, rank: 12 } });
    const e = only(judge([output(ref, { finishReason: "stop" })], [stopped], { teacherForced: [early] }));
    expect(e?.reasonCodes).toEqual(["premature-stop"]);
    expect(e?.stopGap).toBeCloseTo(6.99, 10);
    const near = forced(stopped, { stop: { logprob: -0.6, bestLogprob: -0.5, rank: 2 } });
    expect(judge([output(ref)], [stopped], { teacherForced: [near] }).passed).toBe(true);
    // A stop that teacher forcing did not score cannot be judged.
    const unscored = judge([output(ref)], [stopped], {
      teacherForced: [{ ...forced(stopped), stop: undefined }],
    });
    expect(unscored.noDecisionReason).toMatch(/teacher forcing did not score the stop/);
  });

  it("fails an output shorter than 90% of the reference's", () => {
    const long = Array.from({ length: 20 }, (_, i) => tok(id(` w${i}`), -0.1));
    const s = judge([output(long)], [output(long.slice(0, 17), { finishReason: "stop" })], {
      request: { maxTokens: 20 },
    });
    expect(only(s)?.reasonCodes).toContain("too-short");
    expect(only(s)?.reason).toMatch(/17 tokens, fewer than 18 \(max\(2, ceil\(0\.9 x 20\)\)\)/);
  });
});

describe("compareOutputs: an arm", () => {
  const reference = [output(ref), output(ref, { requestIndex: 1, promptId: "p1" })];
  const bad = output([tok(Q, -0.1), ...ref.slice(1)], { requestIndex: 1, promptId: "p1" });

  it("passes when every output passes; fails naming codes, prompts and where otherwise", () => {
    expect(judge(reference, reference).passed).toBe(true);
    const s = judge(reference, [output(ref), bad, { ...bad, repetition: 1 }]);
    expect(s.passed).toBe(false);
    expect(s.noDecisionReason).toBe("");
    expect(s.promptsFailed).toBe(2);
    expect(s.reasons.join("\n")).toMatch(
      /^divergence-not-in-top-k \(at the first divergence a token is not in the other side's top-k; e\.g\. at token 0 the candidate's token is not in the reference's top-5\): 2 outputs \(prompts p1; rep\/request 0\/1, 1\/1\)$/m,
    );
  });

  it("allows tolerance failures up to the calibrated share, never on canaries, never integrity", () => {
    const many = Array.from({ length: 20 }, (_, i) => output(ref, { requestIndex: i, promptId: `p${i}` }));
    const candidate = many.map((o, i) => (i === 3 ? { ...bad, requestIndex: 3, promptId: "p3" } : o));
    const lenient = judge(many, candidate, { thresholds: { maxFailedFraction: 0.05 } });
    expect(lenient.passed, lenient.reasons.join("\n")).toBe(true);
    expect(lenient.reasons).toContain("1 output(s) failed a tolerance, within the allowed 1");
    const canary = candidate.map((o, i) => (i === 3 ? { ...o, kind: "canary" as const } : o));
    const strict = judge(many, canary, { thresholds: { maxFailedFraction: 0.05 } });
    expect(strict.passed).toBe(false);
    expect(strict.reasons).toContain("canary prompts are judged with no allowance: 1 failed");
    const junkIds = candidate.map((o, i) => (i === 3 ? { ...o, text: "not these ids" } : o));
    expect(judge(many, junkIds, { thresholds: { maxFailedFraction: 0.5 } }).passed).toBe(false);
  });

  it("is no decision when only the reference is to blame, and a fail when the candidate is", () => {
    const refFailed = judge([output(ref, { ok: false })], [output(ref)]);
    expect(refFailed.passed).toBe(false);
    expect(refFailed.promptsMissing).toBe(1);
    expect(refFailed.noDecisionReason).toMatch(
      /1 output\(s\) could not be judged because of the reference: reference request failed/,
    );
    // A repeated prompt's output from another repetition stands in for a failed one.
    const standIn = judge([output(ref, { ok: false }), output(ref, { repetition: 1 })], [output(ref)]);
    expect(standIn.passed).toBe(true);
    const tfFailed = judge(reference, reference, {
      teacherForced: [],
      teacherForcing: { state: "failed", reason: "HTTP 500" },
    });
    expect(tfFailed.noDecisionReason).toBe("teacher forcing failed: HTTP 500");
    const unscored = judge(reference, reference, { teacherForced: [] });
    expect(unscored.noDecisionReason).toMatch(
      /2 output\(s\) could not be judged .*: not scored by teacher forcing/,
    );
    const short = judge(reference, reference, {
      teacherForced: reference.map((r) => forced(r, { logprobs: [-0.1] })),
    });
    expect(short.noDecisionReason).toMatch(/teacher forcing scored 1 of 4 tokens/);
    // The candidate's own failures are a fail whatever the reference did.
    const both = judge(
      reference,
      [output(ref, { ok: false, failure: "timeout" }), reference[1] as GeneratedOutput],
      {
        teacherForced: [],
        teacherForcing: { state: "failed", reason: "HTTP 500" },
      },
    );
    expect(both.noDecisionReason).toBe("");
    expect(both.reasons[0]).toMatch(/^request-failed/);
    expect(judge(reference, []).reasons).toContain("no candidate outputs to judge");
    expect(judge(reference, []).passed).toBe(false);
  });

  it("judges without teacher forcing only when it is off on purpose", () => {
    const off = judge(reference, reference, { teacherForced: [], teacherForcing: { state: "off" } });
    expect(off.passed).toBe(true);
    expect(off.thresholds).toContain("teacher_forcing=off");
    const pending = judge(reference, reference, { teacherForced: [], teacherForcing: { state: "pending" } });
    expect(pending.passed).toBe(false);
    expect(pending.noDecisionReason).toBe("teacher forcing pending");
  });
});

describe("resolveThresholds", () => {
  it("rejects nonsense thresholds", () => {
    expect(() => resolveThresholds({ topK: 0 })).toThrow(/topK/);
    expect(() => resolveThresholds({ maxPrefixLogprobDiff: -1 })).toThrow(
      /maxPrefixLogprobDiff must be >= 0/,
    );
    expect(() => resolveThresholds({ minTokenLogprob: 1 })).toThrow(/minTokenLogprob must be <= 0/);
    expect(() => resolveThresholds({ minLengthRatio: 2 })).toThrow(/within 0..1/);
    expect(() => resolveThresholds({ bogus: 1 } as never)).toThrow(/unknown correctness threshold "bogus"/);
    expect(resolveThresholds({ topK: 3 })).toEqual({ ...defaultThresholds, topK: 3 });
  });
});

describe("tokenIdOf", () => {
  it("reads token ids and leaves text alone", () => {
    expect(tokenIdOf("token_id:42")).toBe(42);
    expect(tokenIdOf("hello")).toBeUndefined();
    expect(tokenIdOf("token_id:")).toBeUndefined();
  });
});
