import { describe, expect, it } from "vitest";
import type { GeneratedOutput } from "../../shared/correctness/generated-output.ts";
import { tokenKTimings } from "./token-k-timings.ts";

function out(requestIndex: number, times: number[], over: Partial<GeneratedOutput> = {}): GeneratedOutput {
  return {
    repetition: 0,
    requestIndex,
    promptId: `p${requestIndex}`,
    ok: true,
    text: "",
    tokens: times.map(() => ({ token: "x", logprob: 0, top: [] })),
    finishReason: "stop",
    tokenTimesMs: times,
    ...over,
  };
}

describe("tokenKTimings", () => {
  it("takes k as the fewest tokens of the three and each one's time to its k-th token", () => {
    const [timing] = tokenKTimings({
      arm: [out(0, [5, 6, 7])],
      opening: [out(0, [10, 20, 30, 40])],
      closing: [out(0, [11, 21, 31, 41, 51])],
    });
    expect(timing).toMatchObject({
      requestIndex: 0,
      promptId: "p0",
      k: 3,
      armMs: 7,
      openingMs: 30,
      closingMs: 31,
    });
  });

  it("an arm that stops early is timed at its last token against the baseline's same token", () => {
    // 90% of the baseline's tokens, each as fast as the baseline: speed 1, not 10/9.
    const baseline = Array.from({ length: 10 }, (_, i) => 100 + 10 * i);
    const [timing] = tokenKTimings({ arm: [out(0, baseline.slice(0, 9))], opening: [out(0, baseline)] });
    expect(timing).toMatchObject({ k: 9, armMs: 180, openingMs: 180, closingMs: 180 });
  });

  it("pairs requests by repetition and index, and only when the prompt is the same", () => {
    const timings = tokenKTimings({
      arm: [out(0, [1]), out(1, [2]), out(0, [3], { repetition: 1 }), out(2, [4], { promptId: "other" })],
      opening: [out(0, [10]), out(1, [20]), out(0, [30], { repetition: 1 }), out(2, [40])],
    });
    expect(timings.map((t) => [t.repetition, t.requestIndex, t.armMs, t.openingMs])).toEqual([
      [0, 0, 1, 10],
      [0, 1, 2, 20],
      [1, 0, 3, 30],
    ]);
  });

  it("gives no timing for failed requests, missing times, or probes", () => {
    const timings = tokenKTimings({
      arm: [out(0, [1], { ok: false }), out(1, []), out(2, [3], { kind: "probe" }), out(3, [Number.NaN])],
      opening: [out(0, [10]), out(1, [20]), out(2, [30]), out(3, [40])],
    });
    expect(timings).toEqual([]);
    expect(tokenKTimings({ arm: [out(0, [1])], opening: [out(0, [10], { ok: false })] })).toEqual([]);
  });
});
