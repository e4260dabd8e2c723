import type { Registry } from "@polkadot/types/types";
import { u8aConcat } from "@polkadot/util";
import { blake2AsHex } from "@polkadot/util-crypto";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";

/** Weights as the chain takes them: uids ascending, u16 values max-upscaled so the largest is 65535. */
export interface U16Weights {
  uids: number[];
  values: number[];
}

/**
 * Turns weights by uid (any non-negative scale) into the chain's u16 form. Zero weights are
 * dropped (the chain treats a missing uid as zero); all-zero or invalid input is refused.
 */
export function normalizeWeights(weightsByUid: ReadonlyMap<number, number>): U16Weights {
  const entries = [...weightsByUid.entries()].sort(([a], [b]) => a - b);
  for (const [uid, weight] of entries) {
    if (!Number.isInteger(uid) || uid < 0 || uid > 65535)
      throw new CacheonError("invalid-argument", `weight uid ${uid} is not a u16`);
    if (!Number.isFinite(weight) || weight < 0)
      throw new CacheonError(
        "invalid-argument",
        `weight for uid ${uid} is ${weight}; weights are finite and >= 0`,
      );
  }
  const max = Math.max(0, ...entries.map(([, w]) => w));
  if (max === 0) throw new CacheonError("invalid-argument", "every weight is zero; there is nothing to set");
  const uids: number[] = [];
  const values: number[] = [];
  for (const [uid, weight] of entries) {
    const value = Math.round((weight / max) * 65535);
    if (value === 0) continue;
    uids.push(uid);
    values.push(value);
  }
  return { uids, values };
}

/** The hash commit_weights takes: blake2_256(SCALE(hotkey, netuid, uids, values, salt, version_key)). */
export function weightsCommitHash(
  registry: Registry,
  commit: {
    hotkey: string;
    netuid: number;
    uids: number[];
    values: number[];
    salt: number[];
    versionKey: bigint;
  },
): string {
  return blake2AsHex(
    u8aConcat(
      registry.createType("AccountId32", commit.hotkey).toU8a(),
      registry.createType("u16", commit.netuid).toU8a(),
      registry.createType("Vec<u16>", commit.uids).toU8a(),
      registry.createType("Vec<u16>", commit.values).toU8a(),
      registry.createType("Vec<u16>", commit.salt).toU8a(),
      registry.createType("u64", commit.versionKey).toU8a(),
    ),
  );
}
