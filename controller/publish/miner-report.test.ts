import { describe, expect, it } from "vitest";
import { agentProgram } from "../../agent/cli/main.ts";
import { minerProgram } from "../../miner/cli/main.ts";
import { controllerProgram } from "../cli/main.ts";
import { buildMinerReport, nextSteps } from "./miner-report.ts";

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
    expect(steps("failed", "correctness gate failed: x")).toMatch(
      /cacheon-miner evaluate --image REF@DIGEST/,
    );
    expect(steps("failed", "correctness gate failed: x")).toMatch(
      /cacheon-agent regrade --summary rounds\/r\/summary\.json rounds\/r\/evidence\//,
    );
    expect(steps("failed", "not measured: never-ready")).toMatch(/start-up timeout/);
    expect(steps("failed", "not measured: pull-failed")).toMatch(/pulled by digest/);
    expect(steps("failed", "not measured: crashed (oom)")).toMatch(
      /its log in the arm.s evidence bundle of the round \(rounds\/r\/evidence\/\)/,
    );
    expect(steps("copy")).toMatch(/earliest commit owns/);
    expect(steps("malformed")).toMatch(/pinned by digest/);
    expect(steps("below-bar")).toMatch(/at least 1\.0%/);
    expect(steps("not-reproduced")).toMatch(/second pod/);
    expect(steps("awaiting-reproduction")).toMatch(/next round/);
    expect(steps("leader")).toMatch(/paid/);
    expect(steps("something-new")).toBe("");
  });

  it("names only commands that exist, with flags they take", async () => {
    const programs = {
      "cacheon-agent": agentProgram,
      "cacheon-miner": minerProgram,
      "cacheon-controller": controllerProgram,
    };
    const verdicts = [
      "leader",
      "runner-up",
      "failed",
      "copy",
      "malformed",
      "unpaid",
      "below-bar",
      "not-reproduced",
    ];
    const reasons = [
      "correctness gate failed: x",
      "never-ready",
      "pull-failed",
      "crashed",
      "flagged by the agent: y",
      "",
    ];
    const named = new Set<string>();
    for (const verdict of verdicts)
      for (const reason of reasons)
        for (const step of nextSteps({ verdict, reason, minMargin: 0.01, roundId: "r" }))
          for (const [, command] of step.matchAll(/`(cacheon-[a-z]+ [^`]+)`/g)) named.add(command as string);
    expect(named.size).toBeGreaterThanOrEqual(3);
    for (const command of named) {
      const [program, name, ...args] = command.split(" ");
      const entry = programs[program as keyof typeof programs]?.commands[name as string];
      expect(entry, `${command}: no such command`).toBeDefined();
      const cli = await entry?.load();
      for (const flag of args.filter((a) => a.startsWith("--")))
        expect(Object.keys(cli?.options ?? {}), `${command}: no flag ${flag}`).toContain(flag.slice(2));
    }
  });
});
