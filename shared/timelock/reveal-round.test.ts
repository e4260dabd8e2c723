import { describe, expect, it } from "vitest";
import { quicknet } from "./beacon-info.ts";
import { revealRoundAfterBlocks, revealRoundForBlock } from "./reveal-round.ts";

describe("reveal rounds", () => {
  const now = quicknet.genesisSeconds + 3 * 1_000_000; // round 1,000,001 is out

  it("seals CRv4 weights to the round out 3 blocks after the chain's reveal block, rounded down", () => {
    // reveal block 100 blocks away: (100 + 3) * 12 s = 1236 s later = 412 rounds
    expect(
      revealRoundForBlock({
        beacon: quicknet,
        nowSeconds: now,
        currentBlock: 1000,
        revealBlock: 1100,
        blockSeconds: 12,
      }),
    ).toBe(1_000_000 + 412);
    expect(
      revealRoundForBlock({
        beacon: quicknet,
        nowSeconds: now + 2,
        currentBlock: 1000,
        revealBlock: 1100,
        blockSeconds: 12,
      }),
    ).toBe(1_000_000 + 412);
  });

  it("a reveal block less than 3 blocks ahead seals to the round out now (as the SDK does): callers pass a future block", () => {
    expect(
      revealRoundForBlock({
        beacon: quicknet,
        nowSeconds: now,
        currentBlock: 1000,
        revealBlock: 900,
        blockSeconds: 12,
      }),
    ).toBe(1_000_000);
  });

  it("timelocked commitments: blocks * block time later, as the SDK computes it", () => {
    expect(revealRoundAfterBlocks(quicknet, now, 360, 12)).toBe(1_000_000 + 1440);
    expect(revealRoundAfterBlocks(quicknet, now, 1, 0.25)).toBe(1_000_000);
  });
});
