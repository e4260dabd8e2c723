import { describe, expect, it } from "vitest";
import { CacheonError } from "../errors/cacheon-error.ts";
import { backoffDelay, resolveBackoff, sleep } from "./backoff.ts";

describe("backoffDelay", () => {
  it("grows exponentially up to the maximum when there is no jitter", () => {
    const b = resolveBackoff({ initialDelayMs: 100, maxDelayMs: 1000, multiplier: 2, jitter: 0 });
    expect([0, 1, 2, 3, 4, 10, 1000].map((a) => backoffDelay(a, b))).toEqual([
      100, 200, 400, 800, 1000, 1000, 1000,
    ]);
  });

  it("draws the jittered share of the delay from the random source", () => {
    const low = resolveBackoff({ initialDelayMs: 1000, jitter: 0.5, random: () => 0 });
    const high = resolveBackoff({ initialDelayMs: 1000, jitter: 0.5, random: () => 0.999999 });
    expect(backoffDelay(0, low)).toBe(500);
    expect(backoffDelay(0, high)).toBe(1000);
    const full = resolveBackoff({ initialDelayMs: 1000, jitter: 1, random: () => 0 });
    expect(backoffDelay(0, full)).toBe(0);
  });

  it("spreads a fleet's reconnects instead of synchronising them", () => {
    const b = resolveBackoff({ initialDelayMs: 1000, jitter: 0.5 });
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(3, b)));
    expect(delays.size).toBeGreaterThan(10);
    for (const d of delays) expect(d).toBeGreaterThanOrEqual(4000);
  });

  it("treats negative and fractional attempts as the first retry / rounded down", () => {
    const b = resolveBackoff({ initialDelayMs: 10, jitter: 0 });
    expect(backoffDelay(-3, b)).toBe(10);
    expect(backoffDelay(1.9, b)).toBe(20);
  });

  it("documents its defaults", () => {
    const { random: _random, ...rest } = resolveBackoff();
    expect(rest).toEqual({ initialDelayMs: 250, maxDelayMs: 30_000, multiplier: 2, jitter: 0.5 });
  });

  it("refuses nonsense options with every problem named", () => {
    expect(() => resolveBackoff({ initialDelayMs: -1, multiplier: 0.5, jitter: 2 })).toThrow(
      /initialDelayMs must be >= 0.*multiplier must be >= 1.*jitter must be in \[0, 1\]/,
    );
    expect(() => resolveBackoff({ initialDelayMs: 100, maxDelayMs: 10 })).toThrow(
      /maxDelayMs must be >= initialDelayMs/,
    );
  });
});

describe("sleep", () => {
  it("resolves after the delay", async () => {
    const started = performance.now();
    await sleep(5);
    expect(performance.now() - started).toBeGreaterThanOrEqual(4);
  });

  it("rejects with a cancelled error when aborted, before or during the wait", async () => {
    const controller = new AbortController();
    const waiting = sleep(60_000, controller.signal);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ code: "cancelled" });
    await expect(sleep(1, AbortSignal.abort())).rejects.toBeInstanceOf(CacheonError);
  });
});
