import { describe, expect, it } from "vitest";
import { checkCanRequest, checkPrice, podCost, resolveBudget } from "./budget.ts";

describe("pod budget", () => {
  it("has documented defaults", () => {
    expect(resolveBudget()).toEqual({
      maxPods: 1,
      maxPricePerHour: 40,
      maxLifetimeMs: 21_600_000,
      maxIdleMs: 600_000,
    });
  });

  it("reports every bad limit at once", () => {
    expect(() => resolveBudget({ maxPods: 0, maxPricePerHour: -1, maxLifetimeMs: Number.NaN })).toThrow(
      /maxPods must be an integer >= 1 \(got 0\); maxPricePerHour must be a positive number \(got -1\); maxLifetimeMs must be a positive number \(got NaN\)/,
    );
    expect(() => resolveBudget({ maxPods: 1.5 })).toThrow(/maxPods/);
  });

  it("refuses one pod more than maxPods", () => {
    const limits = resolveBudget({ maxPods: 2 });
    expect(() => checkCanRequest(limits, 1)).not.toThrow();
    expect(() => checkCanRequest(limits, 2)).toThrow(/2 pod\(s\) alive and at most 2 allowed/);
  });

  it("refuses a price over the limit, and accepts one equal to it", () => {
    const limits = resolveBudget({ maxPricePerHour: 30 });
    expect(() => checkPrice(limits, 30, "pod a")).not.toThrow();
    expect(() => checkPrice(limits, 30.01, "pod a")).toThrow(
      /pod a costs USD 30.01\/h, over the limit of USD 30\/h/,
    );
  });

  it("prices time held by the hour and never negative", () => {
    expect(podCost(24, 0, 1_800_000)).toBe(12);
    expect(podCost(24, 5_000, 1_000)).toBe(0);
  });
});
