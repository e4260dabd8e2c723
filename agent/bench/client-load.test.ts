import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { type ClientLoad, clientBoundFindings, startClientLoad } from "./client-load.ts";

function load(over: Partial<ClientLoad> = {}): ClientLoad {
  return {
    wallS: 10,
    cpuS: 3,
    cpuShare: 0.3,
    loopDelayP50Ms: 0.2,
    loopDelayP99Ms: 0.9,
    loopDelayMaxMs: 3,
    parseCpuS: 1,
    processCpuS: 3.5,
    processSysS: 1,
    ...over,
  };
}

describe("clientBoundFindings", () => {
  it.each([
    ["a client with room to spare", [load(), load({ cpuShare: 0.69, loopDelayP50Ms: 0.99 })], 0],
    ["nothing measured", [], 0],
    ["a busy client", [load(), load({ cpuShare: 0.92 })], 1],
    ["a late event loop, whatever took the CPU", [load({ loopDelayP50Ms: 4 })], 1],
    ["both", [load({ cpuShare: 1, loopDelayP50Ms: 7 }), load({ cpuShare: 0.8 })], 1],
    [
      "a window too short to judge (a few timer ticks and its own start-up)",
      [load({ wallS: 0.004, cpuShare: 0.84, loopDelayP50Ms: Number.NaN })],
      0,
    ],
    ["a busy window just long enough to judge", [load({ wallS: 0.1, cpuShare: 0.84 })], 1],
  ])("%s: %i finding(s)", (_, loads, findings) => {
    expect(clientBoundFindings(loads)).toHaveLength(findings);
  });

  it("names each repetition over a limit with its figures and the limits", () => {
    const [finding] = clientBoundFindings([
      load(),
      load({ cpuShare: 0.92, wallS: 12.5, loopDelayP50Ms: 2.25 }),
    ]);
    expect(finding).toBe(
      "client-bound: the measuring client, not the server, limited 1 of 2 repetition(s) (repetition 1: client busy 92% of 12.50 s, event loop late 2.25 ms median / 0.90 ms p99; limits 70% busy, 1 ms median lag): its timestamps may be late and it may have held the server back",
    );
  });

  it("takes other limits", () => {
    const loads = [load({ cpuShare: 0.5, loopDelayP50Ms: 0.5 })];
    expect(clientBoundFindings(loads, { maxCpuShare: 0.4 })).toHaveLength(1);
    expect(clientBoundFindings(loads, { maxLoopDelayP50Ms: 0.4 })).toHaveLength(1);
    expect(clientBoundFindings(loads, { maxCpuShare: 0.6, maxLoopDelayP50Ms: 0.6 })).toHaveLength(0);
    expect(clientBoundFindings(loads, { maxCpuShare: 0.4, minWindowS: 11 })).toHaveLength(0);
  });
});

describe("startClientLoad", () => {
  it("sees a client whose thread is kept busy: its CPU share and its event loop's lag", async () => {
    const monitor = startClientLoad({ resolutionMs: 2 });
    const until = performance.now() + 300;
    // Work in 20 ms slices, as a client parsing on the hot path would: timers run up to 20 ms late.
    while (performance.now() < until) {
      const slice = performance.now() + 20;
      while (performance.now() < slice) {}
      await new Promise((resolve) => setImmediate(resolve));
    }
    const busy = monitor.stop();
    expect(busy.wallS).toBeGreaterThanOrEqual(0.3);
    expect(busy.cpuS).toBeGreaterThan(0);
    expect(busy.cpuS).toBeLessThanOrEqual(busy.processCpuS + 1e-3);
    expect(busy.loopDelayP50Ms).toBeGreaterThan(5);
    expect(busy.loopDelayMaxMs).toBeGreaterThanOrEqual(busy.loopDelayP99Ms);
    expect(busy.parseCpuS).toBe(0);
    expect(clientBoundFindings([busy])).toHaveLength(1);
  });

  it("sees an idle client as idle", async () => {
    const monitor = startClientLoad();
    await sleep(200);
    const idle = monitor.stop();
    expect(idle.wallS).toBeGreaterThanOrEqual(0.19);
    // A sleeping thread uses next to no CPU, however loaded the machine is.
    expect(idle.cpuShare).toBeLessThan(0.3);
    expect(idle.processSysS).toBeLessThanOrEqual(idle.processCpuS);
  });
});
