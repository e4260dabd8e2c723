import { describe, expect, it } from "vitest";
import { type CapacityPod, planCapacity } from "./plan-capacity.ts";

const pod = (
  podId: string,
  state: CapacityPod["state"],
  eligible: boolean | undefined,
  stateSinceMs = 0,
): CapacityPod => ({
  podId,
  state,
  stateSinceMs,
  eligible,
});

describe("planCapacity", () => {
  const rows: {
    name: string;
    pods: CapacityPod[];
    maxPods?: number;
    nowMs?: number;
    blockedUntil?: number;
    kind: "wait" | "rent" | "replace";
    podId?: string;
    why: RegExp;
  }[] = [
    { name: "no pod at all: rent", pods: [], kind: "rent", why: /no live pod may take the job/ },
    {
      name: "the only pod is idle but excluded, budget left: rent (the stalled reproduction)",
      pods: [pod("A", "idle", false)],
      kind: "rent",
      why: /no live pod may take the job/,
    },
    {
      name: "an eligible pod is on its way: wait for it",
      pods: [pod("A", "idle", false), pod("B", "booting", true)],
      kind: "wait",
      why: /B is on its way \(booting\)/,
    },
    {
      name: "a booting pod of unknown identity may qualify: wait",
      pods: [pod("A", "idle", false), pod("B", "requested", undefined)],
      kind: "wait",
      why: /B is on its way/,
    },
    {
      name: "a booting pod known to be on the excluded host does not count",
      pods: [pod("A", "idle", false), pod("B", "enrolled", false)],
      maxPods: 3,
      kind: "rent",
      why: /no live pod may take the job/,
    },
    {
      name: "every eligible pod busy, budget left: rent another",
      pods: [pod("A", "busy", true)],
      kind: "rent",
      why: /every eligible pod \(1\) is busy/,
    },
    {
      name: "at the budget, an eligible pod busy: wait for it rather than replace",
      pods: [pod("A", "busy", true), pod("B", "idle", false)],
      kind: "wait",
      why: /A may take it when free/,
    },
    {
      name: "at the budget of one, the excluded pod idle long enough: replace it",
      pods: [pod("A", "idle", false, 0)],
      maxPods: 1,
      nowMs: 60_000,
      kind: "replace",
      podId: "A",
      why: /A sat idle and the job may not use it/,
    },
    {
      name: "at the budget of one, the excluded pod only just idle: wait (another job may take it)",
      pods: [pod("A", "idle", false, 50_000)],
      maxPods: 1,
      nowMs: 60_000,
      kind: "wait",
      why: /waiting for one to go idle/,
    },
    {
      name: "at the budget, the longest idle of two ineligible pods is replaced",
      pods: [pod("A", "idle", false, 20_000), pod("B", "verified", false, 5_000)],
      nowMs: 60_000,
      kind: "replace",
      podId: "B",
      why: /B sat idle/,
    },
    {
      name: "at the budget, ineligible pods all busy: wait",
      pods: [pod("A", "busy", false), pod("B", "busy", false)],
      kind: "wait",
      why: /waiting for one to go idle/,
    },
    {
      name: "a rental failed recently: wait it out",
      pods: [],
      nowMs: 10_000,
      blockedUntil: 25_000,
      kind: "wait",
      why: /next is tried in 15 s/,
    },
    {
      name: "released and failed pods do not count against the budget",
      pods: [pod("A", "failed", false), pod("B", "released", false)],
      maxPods: 1,
      kind: "rent",
      why: /no live pod/,
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const decision = planCapacity({
        pods: row.pods,
        maxPods: row.maxPods ?? 2,
        nowMs: row.nowMs ?? 100_000,
        replaceIdleAfterMs: 30_000,
        rentBlockedUntilMs: row.blockedUntil ?? 0,
      });
      expect(decision.kind).toBe(row.kind);
      expect(decision.why).toMatch(row.why);
      if (row.podId) expect(decision).toMatchObject({ podId: row.podId });
    });
  }
});
