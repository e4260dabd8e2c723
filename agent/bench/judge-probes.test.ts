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

/** A generated workload's outputs: per repetition, `fresh` prompts seen once and the probes; `slow(rep)` scales that repetition's times. */
function generatedRun(options: {
  probeWarmScale?: number;
  slow?: (rep: number) => number;
  spread?: (i: number) => number;
  probes?: string[];
  fresh?: number;
}): GeneratedOutput[] {
  const { probeWarmScale = 1, slow = () => 1, spread = () => 1, probes = ["a", "b"], fresh = 6 } = options;
  const out: GeneratedOutput[] = [];
  for (const rep of [0, 1, 2]) {
    const s = slow(rep);
    for (let i = 0; i < fresh; i++) {
      out.push({
        ...probe(`f${rep}-${i}`, rep, 100 * s * spread(i), 10 * s * spread(i)),
        kind: "scored",
        requestIndex: i,
      });
    }
    for (const p of probes) {
      const w = rep === 0 ? 1 : probeWarmScale;
      out.push(probe(p, rep, 100 * s * w, 10 * s * w));
    }
  }
  return out;
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
    expect(finding).toMatch(
      /more than 8% beyond the baseline's and 0\.0% of timing noise, over 2 probe\(s\)/,
    );
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

  it("takes out a first repetition slower for everything (a busy machine), not for the probes alone", () => {
    // The arm's first repetition ran 1.5x slower, fresh prompts and probes alike: no cache.
    const busy = generatedRun({ slow: (rep) => (rep === 0 ? 1.5 : 1) });
    const calm = generatedRun({});
    expect(repeatSpeedup(busy).drift).toBeCloseTo(1.5, 12);
    expect(repeatSpeedup(busy).speedup).toBeCloseTo(1, 12);
    expect(judgeProbes({ arm: busy, baselines: [calm] })).toBeUndefined();
    // A cache under the same load: the probes got 2x faster than the fresh prompts did.
    const cached = generatedRun({ slow: (rep) => (rep === 0 ? 1.5 : 1), probeWarmScale: 0.5 });
    expect(repeatSpeedup(cached).speedup).toBeCloseTo(2, 12);
    expect(judgeProbes({ arm: cached, baselines: [calm] })).toMatch(
      /^repeat-speedup: repeated probe prompts ran 100\.0% faster .*fresh prompts 50\.0% faster after the first repetition, taken out\) while the baseline's ran 0\.0% faster/,
    );
  });

  it("holds one probe to the fresh prompts' request-to-request spread", () => {
    const jitter = [0.75, 1.3, 1, 0.8, 1.25, 1.05];
    // One probe 20% faster on repeats: within noise when requests vary by a quarter, not when they agree.
    const noisy = generatedRun({ probes: ["a"], probeWarmScale: 1 / 1.2, spread: (i) => jitter[i] ?? 1 });
    const steady = generatedRun({
      probes: ["a"],
      probeWarmScale: 1 / 1.2,
      spread: (i) => 1 + (i % 2) * 0.01,
    });
    const calm = generatedRun({ probes: ["a"] });
    expect(repeatSpeedup(noisy).speedup).toBeCloseTo(1.2, 12);
    expect(repeatSpeedup(noisy).noise).toBeGreaterThan(0.15);
    expect(judgeProbes({ arm: noisy, baselines: [calm] })).toBeUndefined();
    expect(judgeProbes({ arm: steady, baselines: [calm] })).toMatch(/^repeat-speedup: .*over 1 probe\(s\)/);
  });

  it("averages the bookends' repeat speed-ups, each judged on its own", () => {
    // The opening bookend's repeats ran 46% faster, the closing one's not at all: 23% between them.
    // Merged, the closing bookend's cold runs would read as the opening one's slow repeats.
    const opening = arm(40, 10);
    const closing = arm(100, 10);
    const arm30 = arm(56, 10);
    expect(repeatSpeedup(arm30).speedup).toBeCloseTo(190 / 146, 12);
    expect(judgeProbes({ arm: arm30, baselines: [opening, closing] })).toBeUndefined();
    expect(judgeProbes({ arm: arm30, baselines: [closing] })).toMatch(/^repeat-speedup: /);
  });

  it("says nothing when nothing could be measured", () => {
    expect(judgeProbes({ arm: [], baselines: [baseline] })).toBeUndefined();
    expect(judgeProbes({ arm: arm(1, 1), baselines: [[]] })).toBeUndefined();
  });
});
