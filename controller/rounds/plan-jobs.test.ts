import { describe, expect, it } from "vitest";
import { planEvaluation, planReproduction } from "./plan-jobs.ts";
import { derivedSeed, roundSeed } from "./round-seed.ts";

const subject = (id: string) => ({
  submissionId: id,
  hotkey: `h-${id}`,
  image: `r/${id}@sha256:${"a".repeat(64)}`,
});

describe("planEvaluation", () => {
  it("every job runs bookends, leader and runner-up around an even share of challengers", () => {
    const slots = planEvaluation({
      challengers: ["c1", "c2", "c3", "c4", "c5"].map(subject),
      leader: subject("L"),
      runnerUp: subject("R"),
      maxChallengersPerJob: 2,
    });
    expect(slots.map((s) => s.slot)).toEqual(["e0", "e1", "e2"]);
    expect(slots[0]?.arms.map((a) => [a.armId, a.role, a.subject?.submissionId])).toEqual([
      ["a0", "opening-baseline", undefined],
      ["a1", "leader", "L"],
      ["a2", "runner-up", "R"],
      ["a3", "challenger", "c1"],
      ["a4", "challenger", "c4"],
      ["a5", "closing-baseline", undefined],
    ]);
    expect(slots.map((s) => s.arms.filter((a) => a.role === "challenger").length)).toEqual([2, 2, 1]);
  });

  it("never plans the seat holders as challengers; nothing to measure plans nothing; a bad limit counts as 1", () => {
    expect(
      planEvaluation({ challengers: [subject("L")], leader: subject("L"), maxChallengersPerJob: 4 }),
    ).toEqual([]);
    expect(planEvaluation({ challengers: [], maxChallengersPerJob: 4 })).toEqual([]);
    expect(
      planEvaluation({ challengers: [subject("a"), subject("b")], maxChallengersPerJob: 0 }),
    ).toHaveLength(2);
  });
});

describe("planReproduction", () => {
  it("groups candidates by the pods that measured them and avoids those machines", () => {
    const slots = planReproduction({
      candidates: [
        { subject: subject("x"), avoidPods: ["pod-b"] },
        { subject: subject("y"), avoidPods: ["pod-a"] },
        { subject: subject("z"), avoidPods: ["pod-b"] },
        { subject: subject("w"), avoidPods: ["pod-c", "pod-a", "pod-c"] },
      ],
      leader: subject("L"),
    });
    expect(
      slots.map((s) => [
        s.slot,
        s.excludedPods,
        s.independentOf,
        s.arms.filter((a) => a.role === "challenger").map((a) => a.subject?.submissionId),
      ]),
    ).toEqual([
      ["r0", ["pod-a"], ["pod-a"], ["y"]],
      ["r1", ["pod-a", "pod-c"], ["pod-a", "pod-c"], ["w"]],
      ["r2", ["pod-b"], ["pod-b"], ["x", "z"]],
    ]);
  });
});

describe("round seeds", () => {
  const hash = `0x${"12".repeat(32)}`;
  it("come from the block hash and the secret, and derived seeds differ by purpose", () => {
    expect(roundSeed(hash)).toMatch(/^[0-9a-f]{64}$/);
    expect(roundSeed(hash)).toBe(roundSeed(hash.slice(2)));
    expect(roundSeed(hash, "s")).not.toBe(roundSeed(hash));
    expect(roundSeed(`0x${"13".repeat(32)}`)).not.toBe(roundSeed(hash));
    const seed = roundSeed(hash);
    expect(derivedSeed(seed, "reproduce/r0")).not.toBe(derivedSeed(seed, "reproduce/r1"));
    expect(derivedSeed(seed, "reproduce/r0")).not.toBe(seed);
  });
  it("refuse a block hash that is not hex", () => {
    expect(() => roundSeed("0xnothex")).toThrow(/is not hex/);
    expect(() => roundSeed("")).toThrow(/is not hex/);
  });
});
