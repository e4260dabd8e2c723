import { describe, expect, it } from "vitest";
import {
  commitRevealPlan,
  type EpochSchedule,
  epochFiresIn,
  epochOfNextBlock,
  epochStartBlock,
  hashRevealStep,
} from "./epoch-schedule.ts";

const at = (block: number, over: Partial<EpochSchedule> = {}): EpochSchedule => ({
  block,
  epochIndex: 3,
  lastEpochBlock: 300,
  pendingEpochAt: 0,
  tempo: 100,
  revealPeriod: 1,
  nextEpochStart: 400,
  ...over,
});

describe("epoch schedule", () => {
  it.each([
    [350, false],
    [399, false],
    [400, true],
    [450, true],
  ])("an epoch fires in block %i: %s", (block, fires) => {
    expect(epochFiresIn(at(300), block)).toBe(fires);
  });

  it("a pending owner-triggered epoch fires early; tempo 0 never fires", () => {
    expect(epochFiresIn(at(300, { pendingEpochAt: 320 }), 320)).toBe(true);
    expect(epochFiresIn(at(300, { tempo: 0 }), 1000)).toBe(false);
  });

  it("counts a block in which the epoch fires in the new epoch (look-ahead)", () => {
    expect(epochOfNextBlock(at(398))).toBe(3);
    expect(epochOfNextBlock(at(399))).toBe(4);
  });

  it("predicts epoch starts from the chain's next epoch start", () => {
    expect(epochStartBlock(at(350), 4)).toBe(400);
    expect(epochStartBlock(at(350), 6)).toBe(600);
    expect(epochStartBlock(at(350), 3)).toBe(300);
    expect(epochStartBlock(at(350, { nextEpochStart: undefined }), 4)).toBeUndefined();
  });

  it("plans a commit: reveal epoch = commit epoch + period, and its first block", () => {
    expect(commitRevealPlan(at(350))).toEqual({ commitEpoch: 3, revealEpoch: 4, revealBlock: 400 });
    expect(commitRevealPlan(at(399, { revealPeriod: 2 }))).toEqual({
      commitEpoch: 4,
      revealEpoch: 6,
      revealBlock: 600,
    });
  });

  it("hash commit-reveal: wait, reveal in the reveal epoch only, expired after", () => {
    expect(hashRevealStep(at(350), 3)).toBe("wait");
    expect(hashRevealStep(at(399), 3)).toBe("reveal");
    expect(hashRevealStep(at(450, { epochIndex: 4, lastEpochBlock: 400, nextEpochStart: 500 }), 3)).toBe(
      "reveal",
    );
    expect(hashRevealStep(at(499, { epochIndex: 4, lastEpochBlock: 400, nextEpochStart: 500 }), 3)).toBe(
      "expired",
    );
  });
});
