import { describe, expect, it } from "vitest";
import { compareVersions, isVersion } from "./compare-versions.ts";

describe("compareVersions", () => {
  it.each([
    ["0.1.0", "0.1.0", 0],
    ["0.1.0+g1a2b3c", "0.1.0", 0],
    ["0.1.1", "0.1.0", 1],
    ["0.2.0", "0.10.0", -1],
    ["1.0.0", "0.99.99", 1],
    ["v1.2.3", "1.2.3", 0],
    ["1.0.0-rc.1", "1.0.0", -1],
    ["1.0.0-alpha", "1.0.0-alpha.1", -1],
    ["1.0.0-alpha.2", "1.0.0-alpha.10", -1],
    ["1.0.0-beta", "1.0.0-alpha.9", 1],
    ["1.0.0-1", "1.0.0-alpha", -1],
  ])("%s vs %s -> %i", (a, b, order) => {
    expect(compareVersions(a, b)).toBe(order);
    expect(compareVersions(b, a)).toBe(-order || 0);
  });

  it.each(["", "test", "1.0", "1.0.0.0", "01.x.0", "1.0.0-", "latest"])("cannot order %j", (text) => {
    expect(isVersion(text)).toBe(false);
    expect(compareVersions(text, "0.1.0")).toBeUndefined();
  });
});
