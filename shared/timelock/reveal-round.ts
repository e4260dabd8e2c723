import type { BeaconInfo } from "./beacon-info.ts";

type Clock = Pick<BeaconInfo, "genesisSeconds" | "periodSeconds">;

/** Blocks past the first reveal block the pulse should arrive in (bittensor-drand's SECURITY_BLOCK_OFFSET). */
export const securityBlocks = 3;

/** Options of {@link revealRoundForBlock}. */
export interface RevealRoundForBlockOptions {
  beacon: Clock;
  /** Unix seconds now. */
  nowSeconds: number;
  /** The chain's current block. */
  currentBlock: number;
  /** The first block in which the chain may reveal (the chain's own epoch schedule says which). */
  revealBlock: number;
  /** Seconds per block (12 on finney). */
  blockSeconds: number;
}

/**
 * The drand round to seal CRv4 weights to so the chain can open them in `revealBlock`: the round
 * out by the time of `revealBlock + 3` blocks, rounded down (so the pulse is in storage when the
 * chain looks), as bittensor-drand's generate_commit computes it.
 */
export function revealRoundForBlock(options: RevealRoundForBlockOptions): number {
  const blocks = Math.max(0, options.revealBlock + securityBlocks - options.currentBlock);
  const target = options.nowSeconds + blocks * options.blockSeconds;
  return Math.max(1, Math.floor((target - options.beacon.genesisSeconds) / options.beacon.periodSeconds));
}

/**
 * The round a timelocked commitment revealed `blocks` blocks from now is sealed to, as the SDK's
 * `get_encrypted_commitment` computes it.
 */
export function revealRoundAfterBlocks(
  beacon: Clock,
  nowSeconds: number,
  blocks: number,
  blockSeconds: number,
): number {
  return Math.max(
    1,
    Math.floor(
      (nowSeconds - beacon.genesisSeconds + Math.round(blocks * blockSeconds)) / beacon.periodSeconds,
    ),
  );
}
