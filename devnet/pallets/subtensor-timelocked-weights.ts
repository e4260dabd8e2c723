import type { Codec } from "@polkadot/types/types";
import { u8aToHex } from "@polkadot/util";
import { blake2AsHex } from "@polkadot/util-crypto";
import { timelockDecrypt } from "../../shared/timelock/timelock-cipher.ts";
import { decodeWeightsPayload, type WeightsPayload } from "../../shared/timelock/weights-payload.ts";
import type { ChainStorage } from "../chain/chain-storage.ts";
import { big, bool, num } from "./codec-values.ts";
import type {
  BlockHookContext,
  DevnetPallet,
  DispatchContext,
  DispatchOutcome,
  RuntimeEvent,
} from "./pallet.ts";
import { fail } from "./pallet.ts";
import { currentEpochWithLookahead, subnetNetuids } from "./subtensor-epoch.ts";
import { rateLimitPassed, setLastUpdate, setWeights } from "./subtensor-weights.ts";

// Commit-reveal v4 (pallets/subtensor/src/subnets/weights.rs internal_commit_timelocked_weights and
// coinbase/reveal_commits.rs reveal_crv3_commits_for_subnet): a commit is a tle ciphertext sealed
// to a drand round, queued under TimelockedWeightCommits(netuid, commit epoch). In every block the
// queue of epoch `current - reveal_period` is opened with the stored pulses: a commit whose pulse
// is missing stays for the next block; one that does not parse, decrypt or decode, names another
// hotkey, or whose weights set_weights refuses (a version key below WeightsVersionKey, ...) is
// dropped without a trace. Queues of older epochs are deleted: a commit whose pulse never came
// within its reveal epoch is gone.

/** Unrevealed commits one hotkey may have in one epoch's queue. */
const maxUnrevealed = 10;

/** A TimelockedWeightCommits entry: (who, commit block, ciphertext, reveal round). */
type TimelockedCommit = [string, number, string, number];

/** commit_timelocked_weights, commit_timelocked_mechanism_weights, and their reveal hook. */
export const subtensorTimelockedWeightsPallet: DevnetPallet = {
  section: "subtensorModule",
  calls: {
    commitTimelockedWeights: (context, args) =>
      commitTimelocked(context, {
        netuid: num(args[0]),
        mecid: 0,
        commit: args[1],
        round: args[2],
        version: args[3],
      }),
    commitTimelockedMechanismWeights: (context, args) =>
      commitTimelocked(context, {
        netuid: num(args[0]),
        mecid: num(args[1]),
        commit: args[2],
        round: args[3],
        version: args[4],
      }),
  },
  onInitialize: revealTimelockedWeights,
};

function commitTimelocked(
  context: DispatchContext,
  call: {
    netuid: number;
    mecid: number;
    commit: Codec | undefined;
    round: Codec | undefined;
    version: Codec | undefined;
  },
): DispatchOutcome {
  const { storage, who, block } = context;
  const { netuid, mecid } = call;
  if (!bool(storage.read("subtensorModule", "networksAdded", netuid)))
    return fail("subtensorModule", "SubnetNotExists");
  if (mecid >= num(storage.read("subtensorModule", "mechanismCountCurrent", netuid)))
    return fail("subtensorModule", "MechanismDoesNotExist");
  if (!bool(storage.read("subtensorModule", "commitRevealWeightsEnabled", netuid)))
    return fail("subtensorModule", "CommitRevealDisabled");
  if (num(call.version) !== num(storage.read("subtensorModule", "commitRevealWeightsVersion")))
    return fail("subtensorModule", "IncorrectCommitRevealVersion");
  const uidCodec = storage.read("subtensorModule", "uids", netuid, who);
  if (uidCodec === undefined) return fail("subtensorModule", "HotKeyNotRegisteredInSubNet");
  const uid = num(uidCodec);
  if (!rateLimitPassed(storage, netuid, uid, block))
    return fail("subtensorModule", "CommittingWeightsTooFast");
  const bytes = call.commit?.toU8a(true) ?? new Uint8Array();
  const epoch = currentEpochWithLookahead(storage, netuid, block);
  const queue = commitsOf(storage, netuid, epoch);
  if (queue.filter(([account]) => account === who).length >= maxUnrevealed)
    return fail("subtensorModule", "TooManyUnrevealedCommits");
  const round = num(call.round);
  queue.push([who, block, u8aToHex(bytes), round]);
  storage.write("subtensorModule", "timelockedWeightCommits", [netuid, epoch], queue);
  setLastUpdate(storage, netuid, uid, block);
  return {
    ok: true,
    events: [
      {
        section: "subtensorModule",
        method: "TimelockedWeightsCommitted",
        data: [who, netuid, blake2AsHex(bytes), round],
      },
    ],
  };
}

function commitsOf(storage: ChainStorage, netuid: number, epoch: number): TimelockedCommit[] {
  const stored = storage.read("subtensorModule", "timelockedWeightCommits", netuid, epoch) as unknown as
    | Iterable<[Codec, Codec, Codec, Codec]>
    | undefined;
  return [...(stored ?? [])].map(([who, at, bytes, round]) => [
    who.toHex(),
    num(at),
    u8aToHex(bytes.toU8a(true)),
    num(round),
  ]);
}

/** The epochs with a TimelockedWeightCommits queue for `netuid` (its second key, Twox64Concat u64). */
function queuedEpochs(storage: ChainStorage, netuid: number): number[] {
  const epochs: number[] = [];
  for (const [key] of storage.entries) {
    const args = decodeCommitKey(storage, key);
    if (args && args[0] === netuid) epochs.push(args[1]);
  }
  return epochs;
}

function decodeCommitKey(storage: ChainStorage, key: string): [number, number] | undefined {
  const entry = storage.meta.decorated.query.subtensorModule?.timelockedWeightCommits;
  if (!entry) return undefined;
  const prefix = u8aToHex(entry.keyPrefix());
  if (!key.startsWith(prefix)) return undefined;
  // prefix | twox64(netuid) 8 | netuid u16 LE 2 | twox64(epoch) 8 | epoch u64 LE 8
  const rest = key.slice(prefix.length);
  const netuidHex = rest.slice(16, 20);
  const epochHex = rest.slice(36, 52);
  const le = (hex: string) => BigInt(`0x${(hex.match(/../g) ?? []).reverse().join("") || "0"}`);
  return [Number(le(netuidHex)), Number(le(epochHex))];
}

function revealTimelockedWeights(context: BlockHookContext): RuntimeEvent[] {
  const { storage, block } = context;
  const events: RuntimeEvent[] = [];
  for (const netuid of subnetNetuids(storage)) {
    const period = Number(big(storage.read("subtensorModule", "revealPeriodEpochs", netuid)));
    const current = currentEpochWithLookahead(storage, netuid, block);
    const revealEpoch = current - period;
    for (const epoch of queuedEpochs(storage, netuid))
      if (epoch < revealEpoch) storage.remove("subtensorModule", "timelockedWeightCommits", [netuid, epoch]);
    if (current < period) continue;
    const queue = commitsOf(storage, netuid, revealEpoch);
    if (queue.length === 0) continue;
    storage.remove("subtensorModule", "timelockedWeightCommits", [netuid, revealEpoch]);
    const unrevealed: TimelockedCommit[] = [];
    for (const commit of queue) {
      const [who, , ciphertext, round] = commit;
      const pulse = storage.read("drand", "pulses", round) as (Codec & { signature: Codec }) | undefined;
      if (!pulse) {
        unrevealed.push(commit);
        continue;
      }
      const payload = open(storage, ciphertext, pulse.signature.toU8a(true));
      if (!payload || u8aToHex(payload.hotkey) !== who) continue;
      // do_set_mechanism_weights as the committer; its refusal drops the commit silently.
      const scratch = storage.clone();
      const outcome = setWeights(
        { storage: scratch, who, block, dispatch: () => fail("system", "CallFiltered") },
        netuid,
        payload.uids,
        payload.values,
        payload.versionKey,
      );
      if (!outcome.ok) continue;
      storage.entries.clear();
      for (const [key, value] of scratch.entries) storage.entries.set(key, value);
      events.push({ section: "subtensorModule", method: "TimelockedWeightsRevealed", data: [netuid, who] });
    }
    if (unrevealed.length > 0)
      storage.write("subtensorModule", "timelockedWeightCommits", [netuid, revealEpoch], unrevealed);
  }
  return events;
}

/** Decrypts and decodes a commit; undefined for anything the chain would drop. */
function open(storage: ChainStorage, ciphertext: string, signature: Uint8Array): WeightsPayload | undefined {
  try {
    const plaintext = timelockDecrypt(
      storage.meta.registry.createType("Bytes", ciphertext).toU8a(true),
      signature,
    );
    return decodeWeightsPayload(plaintext);
  } catch {
    return undefined;
  }
}
