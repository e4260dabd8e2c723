import { describe, expect, it } from "vitest";
import { parseHexSeed, seededRandom } from "./seeded-random.ts";

describe("seededRandom", () => {
  it("repeats the same sequence for the same seed and domain", () => {
    const a = seededRandom("0xdeadbeef", "prompts");
    const b = seededRandom("deadbeef", "prompts");
    const xs = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
  });
  it("differs across seeds and across domains", () => {
    const base = seededRandom("00ff", "prompts").next();
    expect(seededRandom("00fe", "prompts").next()).not.toBe(base);
    expect(seededRandom("00ff", "arrivals").next()).not.toBe(base);
  });
  it("shuffles to a permutation and draws exponentials with the right mean", () => {
    const r = seededRandom("abcd", "t");
    const items = Array.from({ length: 50 }, (_, i) => i);
    const shuffled = r.shuffle(items);
    expect([...shuffled].sort((x, y) => x - y)).toEqual(items);
    expect(shuffled).not.toEqual(items);
    let sum = 0;
    for (let i = 0; i < 20000; i++) sum += r.exponential(4);
    expect(sum / 20000).toBeGreaterThan(0.23);
    expect(sum / 20000).toBeLessThan(0.27);
    expect(() => r.int(0)).toThrow(RangeError);
    expect(() => r.exponential(0)).toThrow(RangeError);
  });
  it("rejects seeds that are not hex, naming the seed", () => {
    expect(() => parseHexSeed("xyz")).toThrow(/seed "xyz" is not hex/);
    expect(() => parseHexSeed("abc")).toThrow(/not hex/);
    expect(() => parseHexSeed("")).toThrow(/not hex/);
    expect(parseHexSeed("0x0a0b")).toEqual(Buffer.from([10, 11]));
  });
});
