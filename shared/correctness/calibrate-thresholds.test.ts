import { describe, expect, it } from "vitest";
import { calibrateThresholds } from "./calibrate-thresholds.ts";
import { defaultThresholds, thresholdCaps } from "./correctness-thresholds.ts";
import type { GeneratedOutput } from "./generated-output.ts";
import type { TeacherForcedOutput } from "./teacher-forced-output.ts";
import { forced, id, output, tok, tokenizer } from "./testing/judge-fixtures.ts";

const words = [" the", " river", " ran", " past", " old", " mill"].map(id);
const outputs = (n: number): GeneratedOutput[] =>
  Array.from({ length: n }, (_, i) =>
    output(
      words.map((w) => tok(w, -0.2)),
      { requestIndex: i, promptId: `p${i}` },
    ),
  );

function calibrate(
  opening: GeneratedOutput[],
  closing: GeneratedOutput[],
  closingTf: TeacherForcedOutput[] = closing.map((o) => forced(o)),
  openingTf: TeacherForcedOutput[] = opening.map((o) => forced(o)),
) {
  return calibrateThresholds({
    opening,
    closing,
    openingTeacherForced: openingTf,
    closingTeacherForced: closingTf,
    request: { maxTokens: words.length },
    tokenizer,
  });
}

describe("calibrateThresholds", () => {
  it("keeps the defaults when the bookends agree exactly, and says so for audit", () => {
    const c = calibrate(outputs(4), outputs(4));
    expect(c.passed).toBe(true);
    expect(c.thresholds).toEqual(defaultThresholds);
    expect(c.observed).toMatchObject({ maxTokenGap: 0, maxPrefixLogprobDiff: 0, failedFraction: 0 });
    expect(c.closingAgainstOpening.passed).toBe(true);
    expect(c.lines).toContain(
      `calibrated maxTokenGap=${defaultThresholds.maxTokenGap} (bookends 0, default ${defaultThresholds.maxTokenGap}, cap ${thresholdCaps.maxTokenGap}, x2)`,
    );
  });

  it("widens each tolerance to twice what a noisy pod's bookends show, up to the cap", () => {
    const opening = outputs(4);
    // B' reports one logprob per output 0.4 off B's, and its teacher forcing shows a near-tie gap of 1.2.
    const closing = outputs(4).map((o) => ({
      ...o,
      tokens: o.tokens.map((t, i) => ({ ...t, logprob: t.logprob - (i === 3 ? 0.4 : 0) })),
    }));
    const closingTf = closing.map((o) =>
      forced(o, {
        bestLogprobs: o.tokens.map((t, i) => t.logprob + (i === 2 ? 1.2 : 0)),
        ranks: [1, 1, 2, 1, 1, 1],
      }),
    );
    const c = calibrate(opening, closing, closingTf);
    expect(c.passed, c.reason).toBe(true);
    expect(c.observed.maxTokenGap).toBeCloseTo(1.2, 10);
    expect(c.thresholds.maxTokenGap).toBeCloseTo(2.4, 10);
    expect(c.observed.maxPrefixLogprobDiff).toBeCloseTo(0.4, 10);
    expect(c.thresholds.maxPrefixLogprobDiff).toBeCloseTo(0.8, 10);
    // Never tighter than the default.
    expect(c.observed.maxMeanPrefixLogprobDiff).toBeCloseTo(0.4 / 6, 10);
    expect(c.thresholds.maxMeanPrefixLogprobDiff).toBe(defaultThresholds.maxMeanPrefixLogprobDiff);
    expect(c.thresholds.maxTeacherForcedDrop).toBe(defaultThresholds.maxTeacherForcedDrop);
    // A pod this noisy, twice over, would pass the cap: the cap holds.
    const noisier = closing.map((o) =>
      forced(o, { bestLogprobs: o.tokens.map((t, i) => t.logprob + (i === 2 ? 2.9 : 0)) }),
    );
    expect(calibrate(opening, closing, noisier).thresholds.maxTokenGap).toBe(thresholdCaps.maxTokenGap);
  });

  it("fails the pod when the bookends disagree beyond the caps: nothing on it can be judged", () => {
    const opening = outputs(2);
    const closing = outputs(2);
    const closingTf = closing.map((o) => forced(o, { ranks: o.tokens.map((_, i) => (i === 1 ? 30 : 1)) }));
    const c = calibrate(opening, closing, closingTf);
    expect(c.passed).toBe(false);
    expect(c.reason).toMatch(
      /the baseline bookends do not pass against each other even at the loosest tolerances: teacher-forced-rank/,
    );
    expect(c.closingAgainstOpening.passed).toBe(false);
    // Bookends with broken integrity (here: text that is not their ids) fail too.
    const broken = outputs(2).map((o) => ({ ...o, text: "something else" }));
    expect(calibrate(opening, broken).passed).toBe(false);
  });
});
