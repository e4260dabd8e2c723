import { describe, expect, it } from "vitest";
import { bundledPrompts } from "./load-workload-prompts.ts";
import type { Prompt } from "./prompt.ts";
import { poissonArrivals, selectPrompts } from "./select-prompts.ts";

const pool: Prompt[] = Array.from({ length: 10 }, (_, i) => ({
  id: `p${i}`,
  messages: [{ role: "user", content: `q${i}` }],
}));

describe("selectPrompts", () => {
  it("gives the same prompts in the same order for the same seed, and others for another seed", () => {
    const a = selectPrompts({ pool, requests: 5, warmup: 2, roundSeed: "0x01" });
    const b = selectPrompts({ pool, requests: 5, warmup: 2, roundSeed: "01" });
    const c = selectPrompts({ pool, requests: 5, warmup: 2, roundSeed: "02" });
    expect(a.timed.map((p) => p.id)).toEqual(b.timed.map((p) => p.id));
    expect(a.timed.map((p) => p.id)).not.toEqual(c.timed.map((p) => p.id));
  });
  it("keeps timed prompts distinct while the pool lasts and warm-up prompts out of the timed set", () => {
    const s = selectPrompts({ pool, requests: 6, warmup: 3, roundSeed: "ab" });
    expect(new Set(s.timed.map((p) => p.id)).size).toBe(6);
    for (const w of s.warmup) expect(s.timed.map((p) => p.id)).not.toContain(w.id);
  });
  it("reuses the pool in a fresh order when asked for more requests than prompts", () => {
    const s = selectPrompts({ pool, requests: 25, warmup: 1, roundSeed: "ab" });
    expect(s.timed).toHaveLength(25);
    expect(new Set(s.timed.slice(0, 10).map((p) => p.id)).size).toBe(10);
    expect(s.warmup).toHaveLength(1);
  });
  it("rejects an empty pool, a bad count and a seed that is not hex", () => {
    expect(() => selectPrompts({ pool: [], requests: 1, warmup: 0, roundSeed: "ab" })).toThrow(
      /pool is empty/,
    );
    expect(() => selectPrompts({ pool, requests: 0, warmup: 0, roundSeed: "ab" })).toThrow(
      /requests must be/,
    );
    expect(() => selectPrompts({ pool, requests: 1, warmup: -1, roundSeed: "ab" })).toThrow(/warm-up/);
    expect(() => selectPrompts({ pool, requests: 1, warmup: 0, roundSeed: "round-7" })).toThrow(/not hex/);
  });
});

describe("poissonArrivals", () => {
  it("is seeded, starts at 0, increases, and has the requested mean rate", () => {
    const a = poissonArrivals(2000, 50, "beef");
    expect(a).toEqual(poissonArrivals(2000, 50, "beef"));
    expect(a[0]).toBe(0);
    for (let i = 1; i < a.length; i++) expect(a[i] as number).toBeGreaterThanOrEqual(a[i - 1] as number);
    const meanGapMs = (a[a.length - 1] as number) / (a.length - 1);
    expect(meanGapMs).toBeGreaterThan(18);
    expect(meanGapMs).toBeLessThan(22);
    expect(() => poissonArrivals(3, 0, "beef")).toThrow(/positive number/);
  });
});

describe("bundled corpus", () => {
  it("builds hundreds of distinct, long prompts and grows them to prompt_chars", () => {
    const natural = bundledPrompts();
    expect(natural.length).toBeGreaterThanOrEqual(400);
    expect(new Set(natural.map((p) => p.id)).size).toBe(natural.length);
    const long = bundledPrompts(24000);
    for (const p of long.slice(0, 30)) {
      const chars = p.messages.reduce((n, m) => n + m.content.length, 0);
      expect(chars).toBeGreaterThanOrEqual(24000);
      expect(chars).toBeLessThan(27000);
    }
  });
});
