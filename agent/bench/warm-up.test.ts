import { describe, expect, it } from "vitest";
import type { Prompt } from "../workload/prompt.ts";
import { isWarm, warmUpBatch, warmUpRule } from "./warm-up.ts";

const prompts: Prompt[] = Array.from({ length: 5 }, (_, i) => ({ id: `w${i}`, messages: [] }));
const ids = (batch: Prompt[]) => batch.map((p) => p.id);

describe("warmUpBatch", () => {
  const cases: { name: string; size: number; index: number; expected: string[] }[] = [
    { name: "the first batch is the first prompts", size: 2, index: 0, expected: ["w0", "w1"] },
    { name: "later batches take fresh prompts", size: 2, index: 1, expected: ["w2", "w3"] },
    { name: "out of fresh prompts: the last full batch again", size: 2, index: 7, expected: ["w2", "w3"] },
    {
      name: "a batch larger than the prompts sends them all",
      size: 9,
      index: 3,
      expected: ["w0", "w1", "w2", "w3", "w4"],
    },
    { name: "no warm-up requests: nothing", size: 0, index: 0, expected: [] },
  ];
  it.each(cases)("$name", ({ size, index, expected }) => {
    expect(ids(warmUpBatch(prompts, size, index))).toEqual(expected);
  });
  it("no warm-up prompts: nothing", () => {
    expect(warmUpBatch([], 2, 0)).toEqual([]);
  });
});

describe("isWarm", () => {
  const cases: { name: string; throughputs: number[]; warm: boolean }[] = [
    { name: "one batch is never enough", throughputs: [100], warm: false },
    { name: "two batches within 3%", throughputs: [100, 102.9], warm: true },
    { name: "still speeding up (first-run slowness)", throughputs: [37, 85, 98], warm: false },
    { name: "the last two agree, whatever came before", throughputs: [37, 85, 98, 99], warm: true },
    { name: "slower by more than the tolerance", throughputs: [100, 96], warm: false },
    { name: "a batch that produced nothing never agrees", throughputs: [0, 0], warm: false },
  ];
  it.each(cases)("$name", ({ throughputs, warm }) => {
    expect(isWarm(throughputs, 0.03)).toBe(warm);
  });
});

describe("warmUpRule", () => {
  it("is one batch when the workload asks for 0 or 1, and never a negative tolerance", () => {
    expect(warmUpRule({ warmupRequests: 2, warmupMaxBatches: 0, warmupTolerance: -1 })).toEqual({
      size: 2,
      maxBatches: 1,
      tolerance: 0,
    });
    expect(warmUpRule({ warmupRequests: 2, warmupMaxBatches: 6, warmupTolerance: 0.03 }).maxBatches).toBe(6);
  });
});
