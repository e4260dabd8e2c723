import type { Codec } from "@polkadot/types/types";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type BeaconInfo, quicknetDst } from "../../shared/timelock/beacon-info.ts";
import { decodeG2 } from "../../shared/timelock/beacon-signature.ts";
import { encodeCommitmentText } from "../../shared/timelock/commitment-payload.ts";
import { revealRoundAfterBlocks } from "../../shared/timelock/reveal-round.ts";
import { timelockEncrypt } from "../../shared/timelock/timelock-cipher.ts";
import type { ChainClient } from "./chain-client.ts";

/** How to seal a commitment (the SDK's set_reveal_commitment). */
export interface TimelockCommitOptions {
  /** Blocks from now until the chain reveals it. */
  revealInBlocks: number;
  /** Seconds per block. @default 12 */
  blockSeconds?: number;
  /** The beacon to seal to. @default the chain's own Drand.BeaconConfig */
  beacon?: BeaconInfo;
  /** Clock (ms since the epoch), for tests. @default Date.now */
  now?: () => number;
}

/**
 * Seals a commitment's text (SCALE str) to the drand round out `revealInBlocks` blocks from now,
 * as the SDK computes it. The beacon is the chain's own (Drand.BeaconConfig) unless one is given,
 * so a miner on finney seals to quicknet and on the devnet to the devnet's beacon.
 */
export async function sealCommitment(
  client: Pick<ChainClient, "api">,
  text: string,
  options: TimelockCommitOptions,
): Promise<{ ciphertext: Uint8Array; revealRound: number }> {
  if (!Number.isInteger(options.revealInBlocks) || options.revealInBlocks < 1)
    throw new CacheonError(
      "invalid-argument",
      `reveal in ${options.revealInBlocks} blocks: give a whole number of blocks >= 1`,
    );
  const beacon = options.beacon ?? (await chainBeacon(client));
  const revealRound = revealRoundAfterBlocks(
    beacon,
    (options.now ?? Date.now)() / 1000,
    options.revealInBlocks,
    options.blockSeconds ?? 12,
  );
  return { ciphertext: timelockEncrypt(encodeCommitmentText(text), revealRound, beacon), revealRound };
}

/** The beacon the chain's Drand pallet follows (its BeaconConfig). */
export async function chainBeacon(client: Pick<ChainClient, "api">): Promise<BeaconInfo> {
  const query = client.api.query.drand?.beaconConfig;
  if (!query)
    throw new CacheonError(
      "internal",
      "the chain has no Drand pallet: it cannot reveal timelocked commitments",
    );
  const config = (await query()) as unknown as Codec & {
    publicKey: Codec;
    period: Codec;
    genesisTime: Codec;
  };
  const publicKey = config.publicKey.toU8a(true);
  decodeG2(publicKey, "the chain's drand public key");
  return {
    publicKey,
    genesisSeconds: Number(config.genesisTime.toString()),
    periodSeconds: Number(config.period.toString()),
    dst: quicknetDst,
  };
}
