/**
 * A subnet's epoch schedule as the chain keeps it (spec 424's stateful counter): SubnetEpochIndex,
 * LastEpochBlock, PendingEpochAt, tempo, and the reveal period of commit-reveal. Read at one block.
 */
export interface EpochSchedule {
  /** Block the schedule was read at. */
  block: number;
  epochIndex: number;
  lastEpochBlock: number;
  /** 0 when no owner-triggered epoch is pending. */
  pendingEpochAt: number;
  tempo: number;
  revealPeriod: number;
  /** The chain's own answer (runtime API get_next_epoch_start_block); undefined when tempo is 0. */
  nextEpochStart: number | undefined;
}

/** Whether an epoch fires in `block` (should_run_epoch), given the schedule before it. */
export function epochFiresIn(s: EpochSchedule, block: number): boolean {
  if (s.tempo === 0) return false;
  if (s.pendingEpochAt > 0 && block >= s.pendingEpochAt) return true;
  return block - s.lastEpochBlock >= s.tempo;
}

/**
 * The epoch an extrinsic included in `block` is counted in (current_epoch_with_lookahead), for a
 * block right after the one the schedule was read at.
 */
export function epochOfNextBlock(s: EpochSchedule): number {
  return s.epochIndex + (epochFiresIn(s, s.block + 1) ? 1 : 0);
}

/**
 * The first block of epoch `epoch`, predicted from the schedule: epochs fire at the chain's next
 * epoch start and every `tempo` blocks after it. Undefined when the subnet runs no epochs. A
 * deferred epoch (per-block cap) only makes the real block later.
 */
export function epochStartBlock(s: EpochSchedule, epoch: number): number | undefined {
  if (s.nextEpochStart === undefined || s.tempo === 0) return undefined;
  if (epoch <= s.epochIndex) return s.lastEpochBlock;
  return s.nextEpochStart + (epoch - s.epochIndex - 1) * s.tempo;
}

/** Where a commit made in the next block stands: its epoch, the epoch it reveals in and that epoch's first block. */
export function commitRevealPlan(s: EpochSchedule): {
  commitEpoch: number;
  revealEpoch: number;
  revealBlock: number | undefined;
} {
  const commitEpoch = epochOfNextBlock(s);
  const revealEpoch = commitEpoch + s.revealPeriod;
  return { commitEpoch, revealEpoch, revealBlock: epochStartBlock(s, revealEpoch) };
}

/**
 * Hash commit-reveal: what to do with a commit of `commitEpoch` when the next block is counted in
 * epochOfNextBlock(s). "wait" before the reveal epoch, "reveal" in it, "expired" after it.
 */
export function hashRevealStep(s: EpochSchedule, commitEpoch: number): "wait" | "reveal" | "expired" {
  const next = epochOfNextBlock(s);
  const revealEpoch = commitEpoch + s.revealPeriod;
  if (next < revealEpoch) return "wait";
  if (next === revealEpoch) return "reveal";
  return "expired";
}
