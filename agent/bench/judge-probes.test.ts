import { describe, expect, it } from "vitest";
import type { GeneratedOutput } from "../../shared/correctness/generated-output.ts";
import { judgeProbes, repeatSpeedup } from "./judge-probes.ts";

/** A probe's output in a repetition: TTFT then one token every `stepMs`. */
function probe(
  promptId: string,
  repetition: number,
  ttftMs: number,
  stepMs: number,
  tokens = 10,
): GeneratedOutput {
  return {
    repetition,
    requestIndex: 0,
    promptId,
    kind: "probe",
    ok: true,
    text: "",
    tokens: [],
    finishReason: "length",
    tokenTimesMs: Array.from({ length: tokens }, (_, i) => ttftMs + i * stepMs),
  };
}

/** Two probes over three repetitions; later times get `warmTtft` and `warmStep`. */
function arm(warmTtft: number, warmStep: number): GeneratedOutput[] {
  return ["a", "b"].flatMap((p) =>
    [0, 1, 2].map((rep) => (rep === 0 ? probe(p, 0, 100, 10) : probe(p, rep, warmTtft, warmStep))),
  );
}

describe("repeatSpeedup", () => {
  it("is the first time over the later times, and the decode part alone", () => {
    // Prefix caching: the prefill is cheaper on repeats, decoding is not.
    const s = repeatSpeedup(arm(40, 10));
    expect(s.probes).toBe(2);
    expect(s.speedup).toBeCloseTo(190 / 130, 12);
    expect(s.decodeSpeedup).toBeCloseTo(1, 12);
  });

  it("ignores scored prompts, failed requests, and probes seen once", () => {
    const outputs = [
      probe("a", 0, 100, 10),
      { ...probe("b", 0, 100, 10), kind: "scored" as const },
      { ...probe("b", 1, 1, 1), kind: "scored" as const },
    ];
    expect(repeatSpeedup(outputs).probes).toBe(0);
    // Without probes every repeated prompt counts (a fixed pool's workload).
    expect(repeatSpeedup(outputs.slice(1)).probes).toBe(1);
    expect(repeatSpeedup(outputs).speedup).toBeNaN();
    expect(repeatSpeedup([probe("a", 0, 100, 10), { ...probe("a", 1, 1, 1), ok: false }]).probes).toBe(0);
  });
});

describe("judgeProbes", () => {
  const baseline = arm(40, 10);
  it("passes an arm whose repeats speed up as much as the baseline's (prefix caching)", () => {
    expect(judgeProbes({ arm: arm(40, 10), baselines: [baseline, baseline] })).toBeUndefined();
    expect(judgeProbes({ arm: arm(35, 10), baselines: [baseline] })).toBeUndefined();
  });

  it("flags a replay 15% faster than the baseline on repeats, with the figures", () => {
    // Under the old 25% alarm, over the 8% margin.
    const replay = arm(40, 8.5);
    const finding = judgeProbes({ arm: replay, baselines: [baseline] });
    expect(finding).toMatch(
      /^repeat-speedup: repeated probe prompts ran \d+\.\d% faster than their first time \(decode 17\.6%\) while the baseline's ran 46\.2% faster \(decode 0\.0%\)/,
    );
    expect(finding).toMatch(/more than 8% beyond the baseline's, over 2 probe\(s\)/);
    expect(judgeProbes({ arm: replay, baselines: [baseline], margin: 0.2 })).toBeUndefined();
  });

  it("does not read a speed-up the probes disagree on as a cache (a busy machine)", () => {
    // One probe much faster on repeats, the other slower: the median says 20%, the spread says noise.
    const noisy = [
      probe("a", 0, 150, 15),
      probe("a", 1, 40, 10),
      probe("a", 2, 40, 10),
      probe("b", 0, 100, 10),
      probe("b", 1, 110, 11),
      probe("b", 2, 110, 11),
    ];
    expect(repeatSpeedup(noisy).speedup).toBeGreaterThan(1.1);
    expect(judgeProbes({ arm: noisy, baselines: [arm(100, 10)] })).toBeUndefined();
  });

  it("holds the arm to no speed-up when the baseline's repeats were slower (timing noise)", () => {
    const slower = arm(120, 11);
    expect(judgeProbes({ arm: arm(100, 10), baselines: [slower] })).toBeUndefined();
    expect(judgeProbes({ arm: arm(40, 8.5), baselines: [slower] })).toMatch(/^repeat-speedup: /);
  });

  it("names a replay that arrives in one piece", () => {
    const cached = ["a", "b"].flatMap((p) => [probe(p, 0, 100, 10), probe(p, 1, 1, 0), probe(p, 2, 1, 0)]);
    expect(judgeProbes({ arm: cached, baselines: [arm(100, 10)] })).toMatch(
      /faster than their first time \(decode at once\)/,
    );
  });

  it("says nothing when nothing could be measured", () => {
    expect(judgeProbes({ arm: [], baselines: [baseline] })).toBeUndefined();
    expect(judgeProbes({ arm: arm(1, 1), baselines: [[]] })).toBeUndefined();
  });
});
