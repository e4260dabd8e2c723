import { randomInt } from "node:crypto";
import type { KeyringPair } from "@polkadot/keyring/types";
import type { Codec } from "@polkadot/types/types";
import { u8aToHex } from "@polkadot/util";
import { blake2AsHex } from "@polkadot/util-crypto";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import { type BeaconInfo, quicknet } from "../../shared/timelock/beacon-info.ts";
import { verifyBeaconSignature } from "../../shared/timelock/beacon-signature.ts";
import { revealRoundForBlock } from "../../shared/timelock/reveal-round.ts";
import { timelockEncrypt } from "../../shared/timelock/timelock-cipher.ts";
import { encodeWeightsPayload } from "../../shared/timelock/weights-payload.ts";
import type { WeightCommitMode, WeightCommitRow, WeightCommitTable } from "../store/weight-commit-table.ts";
import type { ChainClient, FinalizedBlock } from "./chain-client.ts";
import { commitRevealPlan, type EpochSchedule, hashRevealStep } from "./epoch-schedule.ts";
import type { SubmitOptions } from "./extrinsic-submitter.ts";
import { normalizeWeights, weightsCommitHash } from "./weights.ts";

// Setting weights on Subtensor in the three ways a subnet may ask for: set_weights; the drand
// timelocked commit-reveal v4 (commit_timelocked_weights: sealed to the round out when the chain's
// reveal epoch starts, opened by the chain); and the blake2 hash commit-reveal (commit_weights, then
// reveal_weights in the reveal epoch). Commit-reveal spans epochs, so every commit is written to the
// store before it is submitted and its progress after each step: a controller killed anywhere
// resumes the same commit (same salt, same ciphertext) and never submits a second one while the
// first may still count. Success is always the weights read back from finalized state.

/** Largest commit the runtime accepts (MAX_CRV3_COMMIT_SIZE_BYTES). */
export const maxTimelockCommitBytes = 5000;
/** Blocks a submitted extrinsic may still land in (@polkadot/api's default mortal era). */
const mortalEraBlocks = 64;

/** Options of {@link setChainWeights}. */
export interface SetChainWeightsOptions {
  /** The validator's hotkey. */
  signer: KeyringPair;
  /** Version key of this validator's code; the chain's WeightsVersionKey wins when higher. @default 0n */
  versionKey?: bigint;
  /** Which commit-reveal the subnet uses when CommitRevealWeightsEnabled is on. @default "timelock" */
  commitReveal?: WeightCommitMode;
  /** The beacon the chain's Drand pallet follows (finney: drand quicknet). @default quicknet */
  beacon?: BeaconInfo;
  /** Seconds per block, to turn the reveal block into a beacon round. @default 12 */
  blockSeconds?: number;
  /** Where commits are kept across restarts; without it a commit-reveal cannot be resumed. */
  commits?: WeightCommitTable;
  /** The store intent this call carries out; with `commits`, an open commit of it is resumed. */
  intentId?: number;
  /**
   * How the set_weights extrinsic is submitted (deadline, mortal era) and `onSigned`, called once
   * it is signed and before it is sent, to persist it while it may land.
   */
  submit?: Omit<SubmitOptions, "signal">;
  signal?: AbortSignal;
  logger?: Logger;
}

/** What {@link setChainWeights} did, confirmed from finalized state. */
export interface SetWeightsResult {
  mode: "set_weights" | "commit-reveal" | "timelock";
  uid: number;
  uids: number[];
  values: number[];
  versionKey: bigint;
  /** Finalized block the weights were read back at. */
  blockHash: string;
  blockNumber: number;
}

/** Sets weights in the way the subnet requires and confirms them by reading them back. */
export async function setChainWeights(
  client: ChainClient,
  netuid: number,
  weightsByUid: ReadonlyMap<number, number>,
  options: SetChainWeightsOptions,
): Promise<SetWeightsResult> {
  const { signer, signal } = options;
  const log = options.logger ?? silentLogger;
  const commits = options.commits;
  let open = commits && options.intentId !== undefined ? commits.open(options.intentId) : undefined;
  const metagraph = await client.readMetagraph(netuid);
  const me = metagraph.neurons.find((n) => n.hotkey === signer.address);
  if (!me)
    throw new CacheonError(
      "permission-denied",
      `hotkey ${signer.address} is not registered on subnet ${netuid}: register it before setting weights`,
    );
  const ctx: Context = { client, netuid, uid: me.uid, signer, log, signal, commits };
  // Written but never seen on chain (stopped while it was in flight): find out whether it landed
  // before deciding; one that cannot land any more is replaced by a fresh commit below.
  if (open?.state === "prepared" && (await preparedFate(ctx, open)) === "lost") {
    commits?.update(open.id, {
      state: "expired",
      error: "the commit never landed (its era ended): committing afresh",
    });
    log.warn("an earlier commit never landed; committing afresh", { id: open.id });
    open = undefined;
  }
  if (open) {
    log.info("resuming a commit-reveal of an earlier run", {
      id: open.id,
      mode: open.mode,
      state: open.state,
    });
    return open.mode === "timelock" ? awaitTimelockReveal(ctx, open) : finishHashCommit(ctx, open);
  }
  const { uids, values } = normalizeWeights(weightsByUid);
  const invalid = uids.filter((u) => u >= metagraph.neurons.length);
  if (invalid.length > 0)
    throw new CacheonError("invalid-argument", `uids ${invalid.join(", ")} do not exist on subnet ${netuid}`);
  const versionKey = bigMax(options.versionKey ?? 0n, metagraph.weightsVersionKey);
  const nextAllowed = me.lastUpdate === 0 ? 0 : me.lastUpdate + metagraph.weightsSetRateLimit;
  const best = (await client.api.rpc.chain.getHeader()).number.toNumber();
  if (best + 1 < nextAllowed)
    throw new CacheonError(
      "failed-precondition",
      `uid ${me.uid} set weights at block ${me.lastUpdate}; WeightsSetRateLimit ${metagraph.weightsSetRateLimit} allows the next at block ${nextAllowed} (now ${best})`,
    );
  const weights: Weights = { uids, values, versionKey };
  if (!metagraph.commitRevealWeightsEnabled) {
    const tx = client.api.tx.subtensorModule?.setWeights;
    if (!tx) throw new CacheonError("internal", "the chain's metadata lacks SubtensorModule.set_weights");
    const included = await client.submit(
      tx(netuid, uids, values, versionKey),
      signer,
      signal,
      options.submit,
    );
    await confirmWeights(ctx, included, values, uids);
    return result(ctx, "set_weights", weights, included);
  }
  if (!commits)
    throw new CacheonError(
      "internal",
      "commit-reveal is on and no commit store was given: the weights could be lost between commit and reveal",
    );
  if ((options.commitReveal ?? "timelock") === "timelock")
    return commitTimelocked(ctx, weights, {
      beacon: options.beacon ?? quicknet,
      blockSeconds: options.blockSeconds ?? 12,
      intentId: options.intentId ?? 0,
      best,
    });
  return commitHash(ctx, weights, { intentId: options.intentId ?? 0, best });
}

interface Context {
  client: ChainClient;
  netuid: number;
  uid: number;
  signer: KeyringPair;
  log: Logger;
  signal: AbortSignal | undefined;
  commits: WeightCommitTable | undefined;
}

interface Weights {
  uids: number[];
  values: number[];
  versionKey: bigint;
}

/** Reads the subnet's epoch schedule at a block (the best head when omitted). */
export async function readEpochSchedule(
  client: ChainClient,
  netuid: number,
  blockHash?: string,
): Promise<EpochSchedule> {
  const hash = blockHash ?? (await client.api.rpc.chain.getHeader()).hash.toHex();
  const header = await client.api.rpc.chain.getHeader(hash);
  const q = (await client.api.at(hash)).query.subtensorModule;
  if (!q?.subnetEpochIndex || !q.lastEpochBlock || !q.pendingEpochAt || !q.tempo || !q.revealPeriodEpochs)
    throw new CacheonError(
      "internal",
      "the chain's metadata lacks the epoch schedule (SubnetEpochIndex, LastEpochBlock)",
    );
  const [epochIndex, lastEpochBlock, pendingEpochAt, tempo, revealPeriod] = await Promise.all([
    q.subnetEpochIndex(netuid),
    q.lastEpochBlock(netuid),
    q.pendingEpochAt(netuid),
    q.tempo(netuid),
    q.revealPeriodEpochs(netuid),
  ]);
  const next = await client.api.rpc.state.call(
    "SubnetInfoRuntimeApi_get_next_epoch_start_block",
    // toU8a, not toHex: toHex of a number is big-endian, SCALE is little-endian.
    u8aToHex(client.api.registry.createType("u16", netuid).toU8a()),
    hash,
  );
  const decoded = client.api.registry.createType("Option<u64>", next.toU8a(true));
  return {
    block: header.number.toNumber(),
    epochIndex: Number(epochIndex.toString()),
    lastEpochBlock: Number(lastEpochBlock.toString()),
    pendingEpochAt: Number(pendingEpochAt.toString()),
    tempo: Number(tempo.toString()),
    revealPeriod: Number(revealPeriod.toString()),
    nextEpochStart: decoded.isSome ? Number(decoded.unwrap().toString()) : undefined,
  };
}

// ----- drand timelock (CRv4) -----

async function commitTimelocked(
  ctx: Context,
  weights: Weights,
  plan: { beacon: BeaconInfo; blockSeconds: number; intentId: number; best: number },
): Promise<SetWeightsResult> {
  const { client, netuid, signer, log } = ctx;
  const commits = ctx.commits as WeightCommitTable;
  const tx = client.api.tx.subtensorModule?.commitTimelockedWeights;
  const versionQuery = client.api.query.subtensorModule?.commitRevealWeightsVersion;
  if (!tx || !versionQuery)
    throw new CacheonError(
      "internal",
      "the chain's metadata lacks commit_timelocked_weights / CommitRevealWeightsVersion",
    );
  await checkBeacon(ctx, plan.beacon);
  // Read before each commit: a runtime upgrade may move either.
  const crVersion = Number((await versionQuery()).toString());
  const schedule = await readEpochSchedule(client, netuid);
  const { commitEpoch, revealBlock } = commitRevealPlan(schedule);
  if (revealBlock === undefined)
    throw new CacheonError(
      "failed-precondition",
      `subnet ${netuid} runs no epochs (tempo 0): weights can never be revealed`,
    );
  const round = revealRoundForBlock({
    beacon: plan.beacon,
    nowSeconds: Date.now() / 1000,
    currentBlock: schedule.block,
    revealBlock,
    blockSeconds: plan.blockSeconds,
  });
  const payload = encodeWeightsPayload({
    hotkey: signer.publicKey,
    uids: weights.uids,
    values: weights.values,
    versionKey: weights.versionKey,
  });
  const ciphertext = timelockEncrypt(payload, round, plan.beacon);
  if (ciphertext.length > maxTimelockCommitBytes)
    throw new CacheonError(
      "invalid-argument",
      `the timelocked commit is ${ciphertext.length} bytes; the chain takes at most ${maxTimelockCommitBytes} (set fewer weights)`,
    );
  const row = commits.insert({
    settingId: plan.intentId,
    mode: "timelock",
    netuid,
    hotkey: signer.address,
    uids: weights.uids,
    values: weights.values,
    versionKey: weights.versionKey,
    salt: null,
    commitHash: blake2AsHex(ciphertext),
    ciphertext: u8aToHex(ciphertext),
    revealRound: round,
    submittedBlock: plan.best,
  });
  log.info("committing timelocked weights", {
    id: row.id,
    round,
    commitEpoch,
    revealBlock,
    bytes: ciphertext.length,
  });
  const included = await submitOrMark(ctx, row, tx(netuid, u8aToHex(ciphertext), round, crVersion));
  const landed = await findTimelockedCommit(ctx, row, included.hash);
  commits.update(row.id, {
    state: "committed",
    commitBlock: included.number,
    commitEpoch: landed?.epoch ?? commitEpoch,
  });
  return awaitTimelockReveal(ctx, commits.get(row.id) as WeightCommitRow);
}

/**
 * Fails closed when the chain follows another beacon than the one configured: weights sealed to
 * the wrong key can never be revealed. Checks Drand.BeaconConfig's key and the BLS signature of
 * the latest stored pulse against the configured key.
 */
async function checkBeacon(ctx: Context, beacon: BeaconInfo): Promise<void> {
  const q = ctx.client.api.query.drand;
  if (!q?.beaconConfig || !q.lastStoredRound || !q.pulses)
    throw new CacheonError(
      "failed-precondition",
      "the chain has no Drand pallet: it cannot reveal timelocked weights",
    );
  const config = (await q.beaconConfig()) as unknown as Codec & { publicKey: Codec };
  const chainKey = u8aToHex(config.publicKey.toU8a(true));
  if (chainKey !== u8aToHex(beacon.publicKey))
    throw new CacheonError(
      "invalid-config",
      `the chain's Drand pallet follows the beacon with public key ${chainKey}, not the configured chain.drand.publicKey ${u8aToHex(beacon.publicKey)}: set it to the chain's`,
    );
  const last = Number((await q.lastStoredRound()).toString());
  if (last === 0) return;
  const pulse = (await q.pulses(last)) as unknown as { isSome: boolean; unwrap(): { signature: Codec } };
  if (pulse.isSome && !verifyBeaconSignature(beacon, last, pulse.unwrap().signature.toU8a(true)))
    throw new CacheonError(
      "failed-precondition",
      `the chain's pulse of round ${last} is not a valid signature of the configured beacon: its pulses cannot open what we seal`,
    );
}

/**
 * Follows finalized blocks until the commit has left the chain's queue, then reads the weights:
 * equal to the committed ones -> confirmed; anything else -> expired (the pulse never came, or the
 * chain dropped it: a lower version key, another hotkey's payload). Works the same for a commit
 * resumed after a restart, whatever it missed meanwhile.
 */
async function awaitTimelockReveal(ctx: Context, row: WeightCommitRow): Promise<SetWeightsResult> {
  const commits = ctx.commits as WeightCommitTable;
  let current = row;
  const outcome = await untilFinalized(ctx, async (block) => {
    const queued = await findTimelockedCommit(ctx, current, block.hash);
    if (queued) {
      if (current.state !== "committed") {
        commits.update(current.id, {
          state: "committed",
          commitBlock: queued.block,
          commitEpoch: queued.epoch,
        });
        current = commits.get(current.id) as WeightCommitRow;
      }
      return undefined;
    }
    if (await weightsMatch(ctx, block, current)) return { kind: "confirmed" as const, block };
    if (current.state === "prepared" && block.number - current.submittedBlock <= mortalEraBlocks)
      return undefined;
    return { kind: "expired" as const, block };
  });
  return settle(ctx, current, outcome, "timelock");
}

/** Where our ciphertext sits in TimelockedWeightCommits at a block (the epochs a live commit can be under). */
async function findTimelockedCommit(
  ctx: Context,
  row: WeightCommitRow,
  blockHash: string,
): Promise<{ epoch: number; block: number } | undefined> {
  const { client, netuid } = ctx;
  const q = (await client.api.at(blockHash)).query.subtensorModule;
  const epochNow = Number((await q?.subnetEpochIndex?.(netuid))?.toString() ?? 0);
  const epochs =
    row.commitEpoch !== null
      ? [row.commitEpoch]
      : [epochNow + 1, epochNow, epochNow - 1, epochNow - 2].filter((e) => e >= 0);
  for (const epoch of epochs) {
    const entries =
      ((await q?.timelockedWeightCommits?.(netuid, epoch)) as unknown as Iterable<
        [Codec, Codec, Codec, Codec]
      >) ?? [];
    for (const [who, at, bytes] of entries)
      if (who.toString() === row.hotkey && blake2AsHex(bytes.toU8a(true)) === row.commitHash)
        return { epoch, block: Number(at.toString()) };
  }
  return undefined;
}

/**
 * Whether a commit recorded before submitting landed: it is in the chain's queue, or LastUpdate
 * moved to its block or later (a commit sets it; it may have been revealed already), or its era
 * ended without either ("lost": it can never land).
 */
async function preparedFate(ctx: Context, row: WeightCommitRow): Promise<"landed" | "lost"> {
  for (;;) {
    const head = await ctx.client.finalizedHead();
    const queued =
      row.mode === "timelock"
        ? await findTimelockedCommit(ctx, row, head.hash)
        : await findHashCommit(ctx, row, head.hash);
    if (queued) return "landed";
    const me = (await ctx.client.readMetagraph(ctx.netuid, head)).neurons.find((n) => n.uid === ctx.uid);
    if ((me?.lastUpdate ?? 0) >= row.submittedBlock) return "landed";
    if (head.number - row.submittedBlock > mortalEraBlocks) return "lost";
    await ctx.client.waitForFinalized(head.number + 1, ctx.signal);
  }
}

// ----- blake2 hash commit-reveal -----

async function commitHash(
  ctx: Context,
  weights: Weights,
  plan: { intentId: number; best: number },
): Promise<SetWeightsResult> {
  const { client, netuid, signer, log } = ctx;
  const commits = ctx.commits as WeightCommitTable;
  const tx = client.api.tx.subtensorModule?.commitWeights;
  if (!tx) throw new CacheonError("internal", "the chain's metadata lacks SubtensorModule.commit_weights");
  const salt = Array.from({ length: 8 }, () => randomInt(0, 65536));
  const hash = weightsCommitHash(client.api.registry, { hotkey: signer.address, netuid, ...weights, salt });
  const row = commits.insert({
    settingId: plan.intentId,
    mode: "hash",
    netuid,
    hotkey: signer.address,
    uids: weights.uids,
    values: weights.values,
    versionKey: weights.versionKey,
    salt,
    commitHash: hash,
    ciphertext: null,
    revealRound: null,
    submittedBlock: plan.best,
  });
  log.info("committing weights (hash commit-reveal)", { id: row.id, hash });
  const included = await submitOrMark(ctx, row, tx(netuid, hash));
  const entry = await findHashCommit(ctx, row, included.hash);
  if (!entry)
    throw new CacheonError(
      "internal",
      `commit ${hash} is not in WeightCommits after block ${included.number}`,
    );
  commits.update(row.id, { state: "committed", commitBlock: included.number, commitEpoch: entry.epoch });
  return finishHashCommit(ctx, commits.get(row.id) as WeightCommitRow);
}

/** Waits for the reveal epoch and reveals with the stored salt (or finds the work already done). */
async function finishHashCommit(ctx: Context, row: WeightCommitRow): Promise<SetWeightsResult> {
  const { client, netuid, signer, log } = ctx;
  const commits = ctx.commits as WeightCommitTable;
  const tx = client.api.tx.subtensorModule?.revealWeights;
  if (!tx) throw new CacheonError("internal", "the chain's metadata lacks SubtensorModule.reveal_weights");
  let current = row;
  for (;;) {
    const head = await client.finalizedHead();
    const entry = await findHashCommit(ctx, current, head.hash);
    if (!entry) {
      if (await weightsMatch(ctx, head, current))
        return settle(ctx, current, { kind: "confirmed", block: head }, "commit-reveal");
      if (current.state === "prepared" && head.number - current.submittedBlock <= mortalEraBlocks) {
        await client.waitForFinalized(head.number + 1, ctx.signal);
        continue;
      }
      return settle(ctx, current, { kind: "expired", block: head }, "commit-reveal");
    }
    if (current.state === "prepared") {
      commits.update(current.id, { state: "committed", commitEpoch: entry.epoch });
      current = commits.get(current.id) as WeightCommitRow;
    }
    // The reveal is judged by the block it lands in: time it on the best head.
    const schedule = await readEpochSchedule(client, netuid);
    const step = hashRevealStep(schedule, entry.epoch);
    if (step === "expired") return settle(ctx, current, { kind: "expired", block: head }, "commit-reveal");
    if (step === "wait") {
      await waitForNewBest(ctx, schedule.block);
      continue;
    }
    commits.update(current.id, { state: "revealing" });
    log.info("revealing weights", { id: current.id, epoch: entry.epoch });
    try {
      const included = await client.submit(
        tx(netuid, current.uids, current.values, current.salt ?? [], current.versionKey),
        signer,
        ctx.signal,
      );
      return settle(
        ctx,
        current,
        { kind: await confirmOrExpired(ctx, included, current), block: included },
        "commit-reveal",
      );
    } catch (error) {
      const name = (error as { errorName?: string }).errorName;
      // Too early by a block at an epoch boundary: wait for the next head and try again.
      if (name === "RevealTooEarly") {
        await waitForNewBest(ctx, schedule.block);
        continue;
      }
      throw error;
    }
  }
}

async function findHashCommit(
  ctx: Context,
  row: WeightCommitRow,
  blockHash: string,
): Promise<{ epoch: number } | undefined> {
  const q = (await ctx.client.api.at(blockHash)).query.subtensorModule;
  const commits = (await q?.weightCommits?.(ctx.netuid, row.hotkey))?.toJSON() as
    | [string, number, number, number][]
    | null;
  const mine = commits?.find(([hash]) => hash === row.commitHash);
  return mine ? { epoch: mine[1] } : undefined;
}

// ----- shared steps -----

/** Submits a commit; a refusal by the runtime marks the row failed (nothing can land), anything else leaves it to be resumed. */
async function submitOrMark(
  ctx: Context,
  row: WeightCommitRow,
  extrinsic: Parameters<ChainClient["submit"]>[0],
): Promise<FinalizedBlock> {
  try {
    return await ctx.client.submit(extrinsic, ctx.signer, ctx.signal);
  } catch (error) {
    const err = CacheonError.from(error);
    if (
      (error as { errorName?: string }).errorName !== undefined ||
      err.code === "invalid-argument" ||
      err.code === "permission-denied"
    )
      ctx.commits?.update(row.id, { state: "failed", error: `${err.code}: ${err.message}` });
    throw err;
  }
}

type Outcome = { kind: "confirmed" | "expired"; block: FinalizedBlock };

function settle(
  ctx: Context,
  row: WeightCommitRow,
  outcome: Outcome,
  mode: SetWeightsResult["mode"],
): SetWeightsResult {
  const commits = ctx.commits as WeightCommitTable;
  if (outcome.kind === "expired") {
    const reason = `the ${row.mode === "timelock" ? "timelocked " : ""}commit of block ${row.commitBlock ?? "?"} left the chain's queue without the weights being set (pulse missing, dropped or reveal window missed): the next attempt commits afresh`;
    commits.update(row.id, { state: "expired", error: reason });
    ctx.log.warn("weight commit expired", { id: row.id, reason });
    throw new CacheonError("failed-precondition", reason);
  }
  commits.update(row.id, { state: "confirmed", confirmedBlock: outcome.block.number });
  return result(ctx, mode, { uids: row.uids, values: row.values, versionKey: row.versionKey }, outcome.block);
}

async function confirmOrExpired(
  ctx: Context,
  block: FinalizedBlock,
  row: WeightCommitRow,
): Promise<"confirmed" | "expired"> {
  return (await weightsMatch(ctx, block, row)) ? "confirmed" : "expired";
}

async function weightsMatch(
  ctx: Context,
  block: FinalizedBlock,
  w: { uids: number[]; values: number[] },
): Promise<boolean> {
  const stored = (
    await (await ctx.client.api.at(block.hash)).query.subtensorModule?.weights?.(ctx.netuid, ctx.uid)
  )?.toJSON() as [number, number][] | null;
  return JSON.stringify(stored ?? []) === JSON.stringify(w.uids.map((u, i) => [u, w.values[i]]));
}

async function confirmWeights(
  ctx: Context,
  block: FinalizedBlock,
  values: number[],
  uids: number[],
): Promise<void> {
  if (!(await weightsMatch(ctx, block, { uids, values })))
    throw new CacheonError(
      "internal",
      `weights read back at block ${block.number} differ from those sent (${JSON.stringify(uids.map((u, i) => [u, values[i]]))})`,
    );
}

function result(
  ctx: Context,
  mode: SetWeightsResult["mode"],
  w: Weights,
  block: FinalizedBlock,
): SetWeightsResult {
  return {
    mode,
    uid: ctx.uid,
    uids: w.uids,
    values: w.values,
    versionKey: w.versionKey,
    blockHash: block.hash,
    blockNumber: block.number,
  };
}

/** Calls `step` on every finalized block from now on until it returns an outcome. */
async function untilFinalized<T>(
  ctx: Context,
  step: (block: FinalizedBlock) => Promise<T | undefined>,
): Promise<T> {
  const local = new AbortController();
  const stop = () => local.abort();
  ctx.signal?.addEventListener("abort", stop, { once: true });
  let outcome: T | undefined;
  try {
    await ctx.client.followFinalized(local.signal, async (block) => {
      if (outcome !== undefined) return;
      outcome = await step(block);
      if (outcome !== undefined) local.abort();
    });
  } finally {
    ctx.signal?.removeEventListener("abort", stop);
  }
  if (outcome === undefined)
    throw new CacheonError("cancelled", "stopped waiting for the weights to be revealed");
  return outcome;
}

async function waitForNewBest(ctx: Context, after: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let unsubscribe: (() => void) | undefined;
    let done = false;
    const onAbort = () => {
      unsubscribe?.();
      reject(new CacheonError("cancelled", `stopped waiting for a block after ${after}`));
    };
    ctx.signal?.addEventListener("abort", onAbort, { once: true });
    ctx.client.api.rpc.chain
      .subscribeNewHeads((header) => {
        if (!done && header.number.toNumber() > after) {
          done = true;
          unsubscribe?.();
          ctx.signal?.removeEventListener("abort", onAbort);
          resolve();
        }
      })
      .then((u) => {
        unsubscribe = u;
        if (done) u();
      }, reject);
  });
}

function bigMax(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}
