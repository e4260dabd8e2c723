import { describe, expect, it } from "vitest";
import { computeWeights, defaultWeightPolicy, weightKey, weightsDue } from "./weight-policy.ts";

const policy = defaultWeightPolicy;

describe("computeWeights", () => {
  it("leader 80 / runner-up 20, upscaled so the largest is 65535", () => {
    const w = computeWeights({ leaderUid: 3, runnerUpUid: 1 }, policy);
    expect(w?.uids).toEqual([1, 3]);
    expect(w?.weights).toEqual([16384, 65535]);
    expect((w?.weights[0] ?? 0) / (w?.weights[1] ?? 1)).toBeCloseTo(0.25, 4);
  });

  it("the leader alone takes everything", () => {
    expect(computeWeights({ leaderUid: 2 }, policy)).toMatchObject({ uids: [2], weights: [65535] });
    expect(computeWeights({ leaderUid: 2, runnerUpUid: 2 }, policy)).toMatchObject({
      uids: [2],
      weights: [65535],
    });
  });

  it("burn share goes to the burn uid first", () => {
    const w = computeWeights({ leaderUid: 3, runnerUpUid: 1 }, { ...policy, burnShare: 0.5, burnUid: 0 });
    // shares 0.5 / 0.1 / 0.4
    expect(w?.uids).toEqual([0, 1, 3]);
    expect(w?.weights).toEqual([65535, 13107, 52428]);
    expect(w?.reason).toMatch(/50\.0% burned to uid 0/);
  });

  it("a vacant leader seat burns the leader's share; the runner-up keeps its own", () => {
    const w = computeWeights({ vacantLeader: true, runnerUpUid: 4 }, policy);
    expect(w).toMatchObject({ uids: [0, 4], weights: [65535, 16384] });
    expect(w?.reason).toMatch(/leader seat vacant: its share burned to uid 0; runner-up uid 4/);
  });

  it("no leader: fallback to the burn uid, or nothing", () => {
    expect(computeWeights({}, policy)).toMatchObject({ uids: [0], weights: [65535] });
    expect(computeWeights({ runnerUpUid: 4 }, { ...policy, fallback: "skip" })).toBeUndefined();
  });

  it("refuses a broken policy, naming every field", () => {
    expect(() => computeWeights({ leaderUid: 1 }, { ...policy, leaderShare: 2, burnUid: -1 })).toThrow(
      /leaderShare must be within 0\.\.1, got 2; burnUid must be a uid/,
    );
    expect(() => computeWeights({ leaderUid: 1 }, { ...policy, burnShare: 1 })).toThrow(
      /burnShare must be below 1/,
    );
  });
});

describe("weightsDue", () => {
  const desired = computeWeights({ leaderUid: 3, runnerUpUid: 1 }, policy);
  const key = weightKey(desired ?? { uids: [], weights: [] });
  const opts = { desired, refreshBlocks: 360, rateLimitBlocks: 100 };
  it("sets on first run, on change, and on refresh; never inside the rate limit", () => {
    expect(weightsDue({ ...opts, block: 10 }).due).toBe(true);
    expect(weightsDue({ ...opts, block: 150, last: { block: 100, key: "other" } })).toMatchObject({
      due: false,
    });
    expect(weightsDue({ ...opts, block: 200, last: { block: 100, key: "other" } })).toMatchObject({
      due: true,
      reason: "weights changed",
    });
    expect(weightsDue({ ...opts, block: 300, last: { block: 100, key } }).due).toBe(false);
    expect(weightsDue({ ...opts, block: 460, last: { block: 100, key } }).reason).toMatch(
      /refresh: 360 blocks/,
    );
    expect(weightsDue({ ...opts, desired: undefined, block: 1000 }).due).toBe(false);
  });
});
