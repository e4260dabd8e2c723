import { describe, expect, it } from "vitest";
import { buildMinerReport } from "./miner-report.ts";

const base = {
  hotkey: "h",
  submissionId: "s",
  image: "i",
  roundId: "r",
  speed: 1,
  settledSpeed: 1,
  measurements: [],
  minMargin: 0.01,
};

describe("buildMinerReport", () => {
  it("tells each kind of miner what to do next", () => {
    const steps = (verdict: string, reason = "") =>
      buildMinerReport({ ...base, verdict, reason }).nextSteps.join(" ");
    expect(steps("failed", "correctness gate failed: x")).toMatch(/cacheon-miner evaluate/);
    expect(steps("failed", "not measured: never-ready")).toMatch(/start-up timeout/);
    expect(steps("failed", "not measured: pull-failed")).toMatch(/pulled by digest/);
    expect(steps("failed", "not measured: crashed (oom)")).toMatch(/log excerpt/);
    expect(steps("copy")).toMatch(/earliest commit owns/);
    expect(steps("malformed")).toMatch(/pinned by digest/);
    expect(steps("below-bar")).toMatch(/at least 1\.0%/);
    expect(steps("not-reproduced")).toMatch(/second pod/);
    expect(steps("awaiting-reproduction")).toMatch(/next round/);
    expect(steps("leader")).toMatch(/paid/);
    expect(steps("something-new")).toBe("");
  });
});
