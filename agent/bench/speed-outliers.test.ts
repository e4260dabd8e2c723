import { describe, expect, it } from "vitest";
import type { GeneratedOutput } from "../../shared/correctness/generated-output.ts";
import { speedOutliers } from "./speed-outliers.ts";

function out(
  requestIndex: number,
  ttftMs: number,
  stepMs: number,
  over: Partial<GeneratedOutput> = {},
): GeneratedOutput {
  return {
    repetition: 0,
    requestIndex,
    promptId: `p${requestIndex}`,
    ok: true,
    text: "",
    tokens: [],
    finishReason: "length",
    tokenTimesMs: Array.from({ length: 40 }, (_, i) => ttftMs + i * stepMs),
    ...over,
  };
}

const baseline = Array.from({ length: 10 }, (_, i) => out(i, 500, 20));

describe("speedOutliers", () => {
  it("passes an honest server: faster prefill, steady decoding over prompts, however its prefill queues", () => {
    const honest = Array.from({ length: 10 }, (_, i) => out(i, 20 + 150 * (i % 3), 19 + (i % 2)));
    expect(speedOutliers({ arm: honest, baseline })).toBeUndefined();
  });

  it("flags answers from a table of precomputed responses: streamed at once", () => {
    const table = Array.from({ length: 10 }, (_, i) => (i % 4 === 0 ? out(i, 510, 20) : out(i, 3, 0)));
    const finding = speedOutliers({ arm: table, baseline });
    expect(finding).toMatch(/^speed-outliers: 3 of 10 requests decoded more than 3x faster or slower/);
    expect(finding).toContain("median at once");
    expect(finding).toContain("0/0 (p0: decode 1.00x, TTFT 0.98x)");
    const fewHits = Array.from({ length: 10 }, (_, i) => (i < 2 ? out(i, 3, 0) : out(i, 500, 20)));
    expect(speedOutliers({ arm: fewHits, baseline })).toMatch(
      /^speed-outliers: 2 of 10 .*0\/0 \(p0: decode at once/,
    );
  });

  it("leaves out probes, failed requests and short answers, and needs a few requests", () => {
    const cached = baseline.map((o, i) => (i < 3 ? out(i, 1, 0, { kind: "probe" }) : o));
    expect(speedOutliers({ arm: cached, baseline })).toBeUndefined();
    expect(speedOutliers({ arm: baseline.slice(0, 2), baseline })).toBeUndefined();
    const short = baseline.map((o, i) => (i < 3 ? { ...out(i, 1, 0), tokenTimesMs: [1, 1, 1] } : o));
    expect(speedOutliers({ arm: short, baseline })).toBeUndefined();
  });
});
