import { describe, expect, it } from "vitest";
import { jobSeedFlag, networkModeFlag, nofileFlag } from "./job-flags.ts";

describe("networkModeFlag", () => {
  it.each([
    [undefined, "internal"],
    ["internal", "internal"],
    ["host", "host"],
  ])("%s -> %s", (text, mode) => expect(networkModeFlag(text)).toBe(mode));

  it.each(["bridge", "", "HOST"])("refuses %j, naming the flag and the modes", (text) => {
    expect(() => networkModeFlag(text)).toThrow(`--network must be "internal" or "host", got "${text}"`);
  });
});

describe("jobSeedFlag", () => {
  it("keeps a given seed of 1 to 64 hex digits", () => {
    for (const seed of ["0", "deadBEEF", "f".repeat(64)]) expect(jobSeedFlag(seed)).toBe(seed);
  });

  it("makes a fresh 64-bit seed when none is given", () => {
    const [a, b] = [jobSeedFlag(undefined), jobSeedFlag(undefined)];
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(a).not.toBe(b);
  });

  it.each(["", "xyz", "0x12", "f".repeat(65)])("refuses %j", (seed) => {
    expect(() => jobSeedFlag(seed)).toThrow(`--seed must be 1 to 64 hex digits, got "${seed}"`);
  });
});

describe("nofileFlag", () => {
  it.each([
    [undefined, 65536],
    ["64", 64],
    ["4096", 4096],
  ])("%s -> %s", (text, nofile) => expect(nofileFlag(text)).toBe(nofile));

  it.each(["", "63", "1.5", "many"])("refuses %j", (text) => {
    expect(() => nofileFlag(text)).toThrow(`--nofile must be an integer >= 64, got "${text}"`);
  });
});
