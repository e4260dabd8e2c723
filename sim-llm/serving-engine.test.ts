import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ServingEngine, type ServingTiming } from "./serving-engine.ts";

// The engine's logic on a virtual clock: exact step times without waiting for them.
const timing: Partial<ServingTiming> = {
  prefillBaseMs: 100,
  prefillMsPerPromptToken: 0.5,
  decodeStepBaseMs: 20,
  decodeStepMsPerRunning: 0,
  maxBatch: 8,
  chunkTokens: 10_000,
};

/** Submits a sequence producing `tokens` tokens; records when each arrived. */
function track(engine: ServingEngine, promptTokens: number, tokens: number): number[] {
  const times: number[] = [];
  const start = performance.now();
  engine.submit({
    promptTokens,
    onToken: () => {
      times.push(performance.now() - start);
      return times.length >= tokens;
    },
  });
  return times;
}

describe("ServingEngine on a virtual clock", () => {
  beforeEach(() => {
    vi.useFakeTimers({
      toFake: ["setTimeout", "clearTimeout", "setImmediate", "clearImmediate", "performance"],
    });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("gives TTFT = prefill time and a per-token delay of decodeStepBaseMs / speed", async () => {
    const engine = new ServingEngine({ timing, speed: 1 });
    const times = track(engine, 200, 5);
    await vi.runAllTimersAsync();
    expect(times).toEqual([200, 220, 240, 260, 280]);
    const faster = new ServingEngine({ timing, speed: 1.25 });
    const fastTimes = track(faster, 200, 3);
    await vi.runAllTimersAsync();
    expect(fastTimes).toEqual([160, 176, 192]);
  });

  it("slows every decode step as the batch grows (continuous batching)", async () => {
    const engine = new ServingEngine({
      timing: { ...timing, prefillBaseMs: 10, prefillMsPerPromptToken: 0, decodeStepMsPerRunning: 5 },
    });
    const a = track(engine, 1, 3);
    const b = track(engine, 1, 3);
    await vi.runAllTimersAsync();
    // a's prefill (10); a decodes (20 + 5 x 1) while b prefills (10); both decode (20 + 5 x 2); b alone
    expect(a).toEqual([10, 45, 75]);
    expect(b).toEqual([45, 75, 100]);
  });

  it("queues sequences beyond maxBatch until a slot frees", async () => {
    const engine = new ServingEngine({
      timing: { ...timing, prefillBaseMs: 10, prefillMsPerPromptToken: 0, maxBatch: 1 },
    });
    const a = track(engine, 1, 2);
    const b = track(engine, 1, 2);
    await vi.runAllTimersAsync();
    expect(a).toEqual([10, 30]);
    expect(b).toEqual([40, 60]);
  });

  it("prefills long prompts in chunks of chunkTokens, alongside running decodes", async () => {
    const engine = new ServingEngine({
      timing: { ...timing, prefillBaseMs: 10, prefillMsPerPromptToken: 1, chunkTokens: 100 },
    });
    const times = track(engine, 250, 1);
    await vi.runAllTimersAsync();
    // three prefill steps: 10+100, 10+100, 10+50
    expect(times).toEqual([280]);
  });

  it("applies run-to-run jitter from its random source, and none at jitter 0", async () => {
    const steady = new ServingEngine({ timing, jitter: 0, random: () => 0.3 });
    const noisy = new ServingEngine({ timing, jitter: 0.1, random: () => 0.3 });
    const s = track(steady, 200, 2);
    const n = track(noisy, 200, 2);
    await vi.runAllTimersAsync();
    expect(s).toEqual([200, 220]);
    expect(n[0]).not.toBe(200);
    expect(n[0]).toBeGreaterThan(100);
  });

  it("stops a cancelled sequence and everything after close", async () => {
    const engine = new ServingEngine({ timing });
    const seq = { promptTokens: 1, onToken: vi.fn(() => false) };
    engine.submit(seq);
    await vi.advanceTimersByTimeAsync(150);
    engine.cancel(seq);
    const calls = seq.onToken.mock.calls.length;
    await vi.advanceTimersByTimeAsync(200);
    expect(seq.onToken.mock.calls.length).toBe(calls);
    const other = { promptTokens: 1, onToken: vi.fn(() => false) };
    engine.submit(other);
    engine.close();
    await vi.runAllTimersAsync();
    expect(other.onToken).not.toHaveBeenCalled();
    expect(engine.load).toBe(0);
  });
});
