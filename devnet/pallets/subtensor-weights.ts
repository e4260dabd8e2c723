import { u8aConcat } from "@polkadot/util";
import { blake2AsHex } from "@polkadot/util-crypto";
import type { ChainStorage } from "../chain/chain-storage.ts";
import { big, bool, num, nums } from "./codec-values.ts";
import { type DevnetPallet, type DispatchContext, type DispatchOutcome, fail } from "./pallet.ts";
import { currentEpochWithLookahead } from "./subtensor-epoch.ts";

// SubtensorModule's weight calls in the order subtensor checks them
// (pallets/subtensor/src/subnets/weights.rs do_set_weights / do_commit_weights / do_reveal_weights),
// so the first failing check names the same module error as on finney. Storage is written only
// after every check passed, which is what the runtime's transactional dispatch gives.

const maxUnrevealedCommits = 10;

/** set_weights, commit_weights and reveal_weights (the blake2 hash commit-reveal). */
export const subtensorWeightsPallet: DevnetPallet = {
  section: "subtensorModule",
  calls: {
    setWeights: (context, args) => {
      const netuid = num(args[0]);
      if (bool(context.storage.read("subtensorModule", "commitRevealWeightsEnabled", netuid)))
        return fail("subtensorModule", "CommitRevealEnabled");
      return setWeights(context, netuid, nums(args[1]), nums(args[2]), big(args[3]));
    },
    commitWeights: (context, args) => commitWeights(context, num(args[0]), args[1]?.toHex() ?? "0x"),
    revealWeights: (context, args) =>
      revealWeights(context, {
        netuid: num(args[0]),
        uids: nums(args[1]),
        values: nums(args[2]),
        salt: nums(args[3]),
        versionKey: big(args[4]),
      }),
  },
};

/** subtensor's do_set_weights, check by check (exported for reveals, which end in it). */
export function setWeights(
  context: DispatchContext,
  netuid: number,
  uids: number[],
  values: number[],
  versionKey: bigint,
): DispatchOutcome {
  const { storage, who, block } = context;
  if (uids.length !== values.length) return fail("subtensorModule", "WeightVecNotEqualSize");
  if (!bool(storage.read("subtensorModule", "networksAdded", netuid)))
    return fail("subtensorModule", "SubnetNotExists");
  const subnetN = num(storage.read("subtensorModule", "subnetworkN", netuid));
  if (uids.length > subnetN) return fail("subtensorModule", "UidsLengthExceedUidsInSubNet");
  const uidCodec = storage.read("subtensorModule", "uids", netuid, who);
  if (uidCodec === undefined) return fail("subtensorModule", "HotKeyNotRegisteredInSubNet");
  const chainKey = big(storage.read("subtensorModule", "weightsVersionKey", netuid));
  if (chainKey !== 0n && versionKey < chainKey) return fail("subtensorModule", "IncorrectWeightVersionKey");
  const uid = num(uidCodec);
  const commitReveal = bool(storage.read("subtensorModule", "commitRevealWeightsEnabled", netuid));
  if (!commitReveal && !rateLimitPassed(storage, netuid, uid, block))
    return fail("subtensorModule", "SettingWeightsTooFast");
  const selfWeight = uids.length === 1 && uids[0] === uid;
  const permits = storage.read("subtensorModule", "validatorPermit", netuid)?.toJSON() as boolean[];
  if (!selfWeight && permits[uid] !== true) return fail("subtensorModule", "NeuronNoValidatorPermit");
  if (new Set(uids).size !== uids.length) return fail("subtensorModule", "DuplicateUids");
  if (uids.some((u) => u >= subnetN)) return fail("subtensorModule", "UidVecContainInvalidOne");
  const minAllowed = Math.min(num(storage.read("subtensorModule", "minAllowedWeights", netuid)), subnetN);
  if (!selfWeight && uids.length < minAllowed) return fail("subtensorModule", "WeightVecLengthIsLow");
  const upscaled = maxUpscaleToU16(values);
  const maxLimit = num(storage.read("subtensorModule", "maxWeightsLimit", netuid));
  if (!selfWeight && maxLimit < 65535 && !maxLimited(upscaled, maxLimit))
    return fail("subtensorModule", "MaxWeightExceeded");
  storage.write(
    "subtensorModule",
    "weights",
    [netuid, uid],
    uids.map((u, i) => [u, upscaled[i] ?? 0]),
  );
  if (!commitReveal) setLastUpdate(storage, netuid, uid, block);
  return { ok: true, events: [{ section: "subtensorModule", method: "WeightsSet", data: [netuid, uid] }] };
}

/** subtensor's vec_u16_max_upscale_to_u16: the largest weight becomes 65535, the rest scale with it. */
export function maxUpscaleToU16(values: number[]): number[] {
  const max = Math.max(0, ...values);
  if (max === 0) return values.map(() => 0);
  if (max === 65535) return [...values];
  return values.map((v) => Number((BigInt(v) * 65535n + BigInt(max) / 2n) / BigInt(max)));
}

/** subtensor's check_vec_max_limited: the largest normalised weight is at most limit / 65535. */
function maxLimited(weights: number[], limit: number): boolean {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum === 0) return true;
  return Math.max(...weights) / sum <= limit / 65535;
}

/** check_rate_limit: LastUpdate 0 (never) passes, else WeightsSetRateLimit blocks must have gone by. */
export function rateLimitPassed(storage: ChainStorage, netuid: number, uid: number, block: number): boolean {
  const last =
    ((storage.read("subtensorModule", "lastUpdate", netuid)?.toJSON() as number[] | undefined) ?? [])[uid] ??
    0;
  if (last === 0) return true;
  const limit = Number(big(storage.read("subtensorModule", "weightsSetRateLimit", netuid)));
  return block - last >= limit;
}

export function setLastUpdate(storage: ChainStorage, netuid: number, uid: number, block: number): void {
  const updates = [
    ...((storage.read("subtensorModule", "lastUpdate", netuid)?.toJSON() as number[] | undefined) ?? []),
  ];
  while (updates.length <= uid) updates.push(0);
  updates[uid] = block;
  storage.write("subtensorModule", "lastUpdate", [netuid], updates);
}

/** A WeightCommits entry as spec 424 stores it: (hash, commit epoch, commit block, unused 0). */
type Commit = [string, number, number, number];

function commitWeights(context: DispatchContext, netuid: number, hash: string): DispatchOutcome {
  const { storage, who, block } = context;
  if (!bool(storage.read("subtensorModule", "commitRevealWeightsEnabled", netuid)))
    return fail("subtensorModule", "CommitRevealDisabled");
  const uidCodec = storage.read("subtensorModule", "uids", netuid, who);
  if (uidCodec === undefined) return fail("subtensorModule", "HotKeyNotRegisteredInSubNet");
  const uid = num(uidCodec);
  if (!rateLimitPassed(storage, netuid, uid, block))
    return fail("subtensorModule", "CommittingWeightsTooFast");
  const commitEpoch = currentEpochWithLookahead(storage, netuid, block);
  const commits = storedCommits(storage, netuid, who);
  while (commits[0] && commitExpired(storage, netuid, block, commits[0][1])) commits.shift();
  if (commits.length >= maxUnrevealedCommits) return fail("subtensorModule", "TooManyUnrevealedCommits");
  commits.push([hash, commitEpoch, block, 0]);
  storage.write("subtensorModule", "weightCommits", [netuid, who], commits);
  setLastUpdate(storage, netuid, uid, block);
  return {
    ok: true,
    events: [{ section: "subtensorModule", method: "WeightsCommitted", data: [who, netuid, hash] }],
  };
}

function storedCommits(storage: ChainStorage, netuid: number, who: string): Commit[] {
  return (
    (storage.read("subtensorModule", "weightCommits", netuid, who)?.toJSON() as Commit[] | undefined) ?? []
  );
}

function revealPeriod(storage: ChainStorage, netuid: number): number {
  return Number(big(storage.read("subtensorModule", "revealPeriodEpochs", netuid)));
}

/** is_commit_expired: the current epoch is past the commit's reveal epoch. */
function commitExpired(storage: ChainStorage, netuid: number, block: number, commitEpoch: number): boolean {
  return currentEpochWithLookahead(storage, netuid, block) > commitEpoch + revealPeriod(storage, netuid);
}

/** The hash commit_weights stores: blake2_256(SCALE(who, netuid, uids, values, salt, version_key)). */
export function weightsCommitHash(
  storage: ChainStorage,
  who: string,
  reveal: { netuid: number; uids: number[]; values: number[]; salt: number[]; versionKey: bigint },
): string {
  const { registry } = storage.meta;
  return blake2AsHex(
    u8aConcat(
      registry.createType("AccountId32", who).toU8a(),
      registry.createType("u16", reveal.netuid).toU8a(),
      registry.createType("Vec<u16>", reveal.uids).toU8a(),
      registry.createType("Vec<u16>", reveal.values).toU8a(),
      registry.createType("Vec<u16>", reveal.salt).toU8a(),
      registry.createType("u64", reveal.versionKey).toU8a(),
    ),
  );
}

/** do_reveal_weights, check by check: expired commits are popped first, then the hash is looked up. */
function revealWeights(
  context: DispatchContext,
  reveal: { netuid: number; uids: number[]; values: number[]; salt: number[]; versionKey: bigint },
): DispatchOutcome {
  const { storage, who, block } = context;
  const { netuid } = reveal;
  if (!bool(storage.read("subtensorModule", "commitRevealWeightsEnabled", netuid)))
    return fail("subtensorModule", "CommitRevealDisabled");
  if (storage.read("subtensorModule", "weightCommits", netuid, who) === undefined)
    return fail("subtensorModule", "NoWeightsCommitFound");
  const commits = storedCommits(storage, netuid, who);
  const expired: string[] = [];
  while (commits[0] && commitExpired(storage, netuid, block, commits[0][1]))
    expired.push(commits.shift()?.[0] ?? "");
  const hash = weightsCommitHash(storage, who, reveal);
  if (commits.length === 0)
    return fail("subtensorModule", expired.includes(hash) ? "ExpiredWeightCommit" : "NoWeightsCommitFound");
  const position = commits.findIndex(([h]) => h === hash);
  if (position < 0)
    return fail(
      "subtensorModule",
      expired.includes(hash) ? "ExpiredWeightCommit" : "InvalidRevealCommitHashNotMatch",
    );
  const commitEpoch = commits[position]?.[1] ?? 0;
  if (currentEpochWithLookahead(storage, netuid, block) !== commitEpoch + revealPeriod(storage, netuid))
    return fail("subtensorModule", "RevealTooEarly");
  const remaining = commits.slice(position + 1);
  if (remaining.length === 0) storage.remove("subtensorModule", "weightCommits", [netuid, who]);
  else storage.write("subtensorModule", "weightCommits", [netuid, who], remaining);
  const outcome = setWeights(context, netuid, reveal.uids, reveal.values, reveal.versionKey);
  if (!outcome.ok) return outcome;
  return {
    ok: true,
    events: [
      ...outcome.events,
      { section: "subtensorModule", method: "WeightsRevealed", data: [who, netuid, hash] },
    ],
  };
}
