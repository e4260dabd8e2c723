import { describe, expect, it } from "vitest";
import { healthReport } from "./health-report.ts";
import { LoopMonitor, type LoopReporter } from "./loop-monitor.ts";

type Step = [atMs: number, action: keyof LoopReporter | "none"];

describe("LoopMonitor", () => {
  // Each row: a loop registered at 0 with a 100 ms limit, what it reported and when, and what
  // the monitor says at `askAtMs`.
  const rows: { name: string; steps: Step[]; askAtMs: number; stuckForMs: number; stuck: boolean }[] = [
    { name: "fresh loop within its limit", steps: [], askAtMs: 100, stuckForMs: 100, stuck: false },
    { name: "fresh loop that never reported", steps: [], askAtMs: 101, stuckForMs: 101, stuck: true },
    {
      name: "recent success",
      steps: [
        [50, "passStarted"],
        [90, "passSucceeded"],
      ],
      askAtMs: 180,
      stuckForMs: 90,
      stuck: false,
    },
    {
      name: "a pass running too long without progress",
      steps: [
        [10, "passSucceeded"],
        [20, "passStarted"],
      ],
      askAtMs: 200,
      stuckForMs: 190,
      stuck: true,
    },
    {
      name: "a long pass that keeps progressing",
      steps: [
        [0, "passStarted"],
        [80, "progressed"],
        [160, "progressed"],
        [240, "progressed"],
      ],
      askAtMs: 300,
      stuckForMs: 60,
      stuck: false,
    },
    {
      name: "failing every pass is stuck: errors are not progress",
      steps: [
        [30, "passFailed"],
        [60, "passFailed"],
        [90, "passFailed"],
        [120, "passFailed"],
      ],
      askAtMs: 130,
      stuckForMs: 130,
      stuck: true,
    },
    {
      name: "a success after failures heals it",
      steps: [
        [30, "passFailed"],
        [120, "passSucceeded"],
      ],
      askAtMs: 130,
      stuckForMs: 10,
      stuck: false,
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      let now = 0;
      const monitor = new LoopMonitor({ now: () => now });
      const loop = monitor.register("rounds", { stuckAfterMs: 100 });
      for (const [at, action] of row.steps) {
        now = at;
        if (action === "passFailed") loop.passFailed(new Error(`failed at ${at}`));
        else if (action !== "none") loop[action]();
      }
      now = row.askAtMs;
      const [status] = monitor.statuses();
      expect(status).toMatchObject({ name: "rounds", stuckForMs: row.stuckForMs, stuck: row.stuck });
    });
  }

  it("keeps counts, the last error and the pass under way", () => {
    let now = 1000;
    const monitor = new LoopMonitor({ now: () => now });
    const weights = monitor.register("weights", { stuckAfterMs: 0 });
    weights.passStarted();
    weights.passFailed(new Error("chain unavailable"));
    now = 1500;
    weights.passStarted();
    expect(monitor.statuses()[0]).toEqual({
      name: "weights",
      critical: true,
      lastSuccessMs: 0,
      lastErrorMs: 1000,
      lastError: "chain unavailable",
      passStartedMs: 1500,
      lastProgressMs: 0,
      passes: 1,
      failures: 1,
      stuckForMs: 500,
      stuckAfterMs: 0,
      // A limit of 0 never calls the loop stuck.
      stuck: false,
    });
  });

  it("refuses a second loop of the same name and a negative limit", () => {
    const monitor = new LoopMonitor();
    monitor.register("fleet", { stuckAfterMs: 10 });
    expect(() => monitor.register("fleet", { stuckAfterMs: 10 })).toThrow(/registered already/);
    expect(() => monitor.register("x", { stuckAfterMs: -1 })).toThrow(/stuckAfterMs must be a number >= 0/);
  });
});

describe("healthReport", () => {
  const status = (name: string, stuck: boolean, critical = true) => {
    let now = 0;
    const monitor = new LoopMonitor({ now: () => now });
    monitor.register(name, { stuckAfterMs: 10, critical });
    now = stuck ? 11 : 5;
    return monitor.statuses()[0] as NonNullable<ReturnType<LoopMonitor["statuses"]>[0]>;
  };
  const rows = [
    { name: "all fine", loops: [status("rounds", false), status("weights", false)], ok: true, stuck: [] },
    {
      name: "weights stuck",
      loops: [status("rounds", false), status("weights", true)],
      ok: false,
      stuck: ["weights"],
    },
    {
      name: "rounds stuck",
      loops: [status("rounds", true), status("weights", false)],
      ok: false,
      stuck: ["rounds"],
    },
    { name: "a stuck loop that is not critical", loops: [status("fleet", true, false)], ok: true, stuck: [] },
    { name: "store unreadable", loops: [], storeError: "disk I/O error", ok: false, stuck: [] },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const report = healthReport({ loops: row.loops, storeError: row.storeError });
      expect(report.ok).toBe(row.ok);
      expect(report.stuck).toEqual(row.stuck);
      expect(report.store).toBe(row.storeError ?? "ok");
    });
  }
});
