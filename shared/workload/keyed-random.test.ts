import { describe, expect, it } from "vitest";
import { keyedRandom } from "./keyed-random.ts";

const key = new Uint8Array(32).fill(1);

describe("keyedRandom", () => {
  it("is the same stream for the same key and label, and another for another key or label", () => {
    const draw = (k: Uint8Array, label: string) => {
      const r = keyedRandom(k, label);
      return Array.from({ length: 20 }, () => r.int(1_000_000));
    };
    expect(draw(key, "a")).toEqual(draw(key, "a"));
    expect(draw(key, "b")).not.toEqual(draw(key, "a"));
    expect(draw(new Uint8Array(32).fill(2), "a")).not.toEqual(draw(key, "a"));
  });

  it("draws integers in range without favouring any", () => {
    const r = keyedRandom(key, "uniform");
    const counts = new Array(7).fill(0);
    for (let i = 0; i < 70_000; i++) counts[r.int(7)] += 1;
    // Each bucket expects 10,000; 5 sigma is about 470.
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
    for (let i = 0; i < 1000; i++) {
      const x = r.next();
      expect(x >= 0 && x < 1).toBe(true);
    }
  });

  it("shuffles into a permutation and refuses bad ranges", () => {
    const r = keyedRandom(key, "shuffle");
    const items = Array.from({ length: 50 }, (_, i) => i);
    const shuffled = r.shuffle(items);
    expect([...shuffled].sort((a, b) => a - b)).toEqual(items);
    expect(shuffled).not.toEqual(items);
    expect(() => r.int(0)).toThrow(RangeError);
    expect(() => r.int(2.5)).toThrow(RangeError);
    expect(() => r.exponential(0)).toThrow(RangeError);
  });
});
