import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import { type ExtrinsicFate, ExtrinsicInDoubt, type SentExtrinsic } from "../chain/extrinsic-submitter.ts";
import type { Seat, Standing } from "../scoring/settle-standing.ts";
import type { ControllerStore } from "../store/controller-store.ts";
import type { WeightSettingRow } from "../store/weight-setting-table.ts";
import { type NeuronAt, resolvePaidSeats, type SeatHolder } from "./paid-seats.ts";
import {
  computeWeights,
  type WeightPolicy,
  type WeightVector,
  weightKey,
  weightsDue,
} from "./weight-policy.ts";

/** What the weight setter needs from the chain (the chain client implements it through an adapter). */
export interface WeightTarget {
  /** Number of the latest finalized block. */
  finalizedBlock(): Promise<number>;
  /** The subnet's neurons at the latest finalized block: who holds which uid, since when. */
  readNeurons(): Promise<{ block: number; neurons: NeuronAt[] }>;
  /** This validator's weights as finalized now, and the block they were last set in (0 = never). */
  readOwnWeights(): Promise<{ lastUpdate: number; uids: number[]; weights: number[] }>;
  /**
   * Sets weights and resolves once they are final and read back; rejects when refused, or with
   * ExtrinsicInDoubt when the extrinsic may still land. `intentId` names the store intent: under
   * commit-reveal a commit already made for it is resumed, not repeated. `onSigned` is called with
   * the set_weights extrinsic once signed, before it is sent.
   */
  setWeights(
    uids: number[],
    weights: number[],
    signal?: AbortSignal,
    intentId?: number,
    onSigned?: (sent: SentExtrinsic) => void,
  ): Promise<{ block: number; ref: string }>;
  /** Whether a commit of this intent is still between commit and reveal (commit-reveal only). */
  pendingCommit?(intentId: number): boolean;
  /** Where a sent extrinsic whose outcome was unknown stands now (landed, pending, lost). */
  extrinsicFate(sent: SentExtrinsic): Promise<ExtrinsicFate>;
}

/** Cadence of weight setting. */
export interface WeightCadence {
  /** Set at least this often even when unchanged, blocks (weights expire). @default 360 */
  refreshBlocks: number;
  /** Never more often than this, blocks (the chain's WeightsSetRateLimit). @default 100 */
  rateLimitBlocks: number;
  /**
   * A "submitted" intent without its extrinsic recorded (written by an earlier version, which
   * signed with @polkadot/api's default era of up to 64 blocks) may still land this many blocks
   * after it: wait that long before deciding afresh. @default 64
   */
  inFlightBlocks: number;
}

export const defaultWeightCadence: Readonly<WeightCadence> = Object.freeze({
  refreshBlocks: 360,
  rateLimitBlocks: 100,
  inFlightBlocks: 64,
});

/** Options of {@link setWeightsIfDue}. */
export interface SetWeightsIfDueOptions {
  store: ControllerStore;
  target: WeightTarget;
  policy: WeightPolicy;
  cadence?: WeightCadence;
  logger?: Logger;
  signal?: AbortSignal;
}

/** What one call did. */
export interface WeightStepResult {
  action: "set" | "confirmed-earlier" | "waiting" | "not-due" | "failed";
  reason: string;
  setting?: WeightSettingRow | undefined;
}

/**
 * Sets weights when due, exactly once per decision. The intent is recorded before the chain is
 * asked, its extrinsic once signed (before it is sent), the confirmation after. An intent left open
 * (a controller killed, a deadline passed, the node dropped the extrinsic) is settled before anything
 * new is sent: its extrinsic found in a block is confirmed by reading the weights back; one that
 * may still land (its mortal era has not ended) is waited for; one that can no longer land, or was
 * never signed, is closed and the weights are decided afresh, from the metagraph of now (never
 * resent with uids that may have changed hands since).
 */
export async function setWeightsIfDue(options: SetWeightsIfDueOptions): Promise<WeightStepResult> {
  const { store, target } = options;
  const cadence = options.cadence ?? defaultWeightCadence;
  const log = options.logger ?? silentLogger;
  const block = await target.finalizedBlock();

  const open = store.weightSettings.list({ states: ["intent", "submitted"], limit: 1 })[0];
  if (open) {
    const settled = await settleOpenIntent(open);
    if (settled) return settled;
  }

  const { block: metagraphBlock, neurons } = await target.readNeurons();
  const desired = desiredWeights(store, options.policy, { block: metagraphBlock, neurons });
  const last = store.weightSettings.list({ states: ["confirmed"], limit: 1 })[0];
  const due = weightsDue({
    block,
    desired,
    last: last ? { block: last.confirmedBlock ?? last.block, key: last.key } : undefined,
    refreshBlocks: cadence.refreshBlocks,
    rateLimitBlocks: cadence.rateLimitBlocks,
  });
  if (!due.due || !desired) return { action: "not-due", reason: due.reason };
  const intent = store.transaction(() =>
    store.weightSettings.insertIntent({
      block,
      uids: desired.uids,
      weights: desired.weights,
      key: weightKey(desired),
      reason: `${due.reason}: ${desired.reason} (uids at block ${metagraphBlock})`,
    }),
  );
  return send(intent, due.reason);

  /** Settles an intent a previous pass left open; undefined when it is closed and a new decision may follow. */
  async function settleOpenIntent(open: WeightSettingRow): Promise<WeightStepResult | undefined> {
    // Under commit-reveal LastUpdate moves at the commit, long before the weights do: finish the
    // commit (its salt or ciphertext is in the store) instead of judging it by LastUpdate.
    if (target.pendingCommit?.(open.id))
      return send(open, "resuming a commit-reveal a stopped controller did not finish");
    if (open.sent) {
      const fate = await target.extrinsicFate(open.sent);
      if (fate.state === "pending") return { action: "waiting", reason: fate.reason, setting: open };
      if (fate.state === "lost") return retryOrClose(open, `its extrinsic was lost: ${fate.reason}`);
      if (fate.error)
        return close(open, `its extrinsic was refused at block ${fate.block.number}: ${fate.error.message}`);
      const onChain = await target.readOwnWeights();
      if (sameWeights(onChain, open)) return confirmEarlier(open, fate.block.number);
      return close(
        open,
        `its extrinsic landed at block ${fate.block.number} but other weights were set since`,
      );
    }
    if (open.state === "intent")
      return retryOrClose(open, "it was never signed (the controller stopped first)");
    // "submitted" without a recorded extrinsic: written by an earlier version.
    const onChain = await target.readOwnWeights();
    if (onChain.lastUpdate >= open.block && sameWeights(onChain, open))
      return confirmEarlier(open, onChain.lastUpdate);
    if (onChain.lastUpdate >= open.block)
      return close(open, `other weights were set at block ${onChain.lastUpdate} after this intent`);
    if (block - open.block < cadence.inFlightBlocks)
      return {
        action: "waiting",
        reason: `intent ${open.id} of block ${open.block} may still be in flight`,
        setting: open,
      };
    return retryOrClose(open, `not on chain ${block - open.block} blocks after it was sent`);
  }

  /**
   * Nothing of the intent can land any more: it is sent again when the metagraph of now still asks
   * for exactly these weights (so a decision keeps one row), else closed for a fresh decision.
   */
  async function retryOrClose(open: WeightSettingRow, why: string): Promise<WeightStepResult | undefined> {
    const now = await target.readNeurons();
    const desired = desiredWeights(store, options.policy, now);
    if (desired && weightKey(desired) === open.key) return send(open, `sending again: ${why}`);
    return close(open, `${why}; the weights to set have changed since (uids at block ${now.block})`);
  }

  function confirmEarlier(open: WeightSettingRow, at: number): WeightStepResult {
    store.transaction(() => store.weightSettings.update(open.id, { state: "confirmed", confirmedBlock: at }));
    log.info("weights of an earlier pass found on chain; confirmed without sending again", {
      id: open.id,
      block: at,
    });
    return {
      action: "confirmed-earlier",
      reason: "found on chain",
      setting: store.weightSettings.get(open.id),
    };
  }

  function close(open: WeightSettingRow, why: string): undefined {
    store.transaction(() => store.weightSettings.update(open.id, { state: "failed", error: why }));
    log.warn("an open weight intent was closed; deciding afresh", { id: open.id, why });
    return undefined;
  }

  async function send(setting: WeightSettingRow, why: string): Promise<WeightStepResult> {
    const onSigned = (sent: SentExtrinsic) =>
      store.transaction(() => store.weightSettings.update(setting.id, { state: "submitted", sent }));
    try {
      const done = await target.setWeights(
        setting.uids,
        setting.weights,
        options.signal,
        setting.id,
        onSigned,
      );
      store.transaction(() =>
        store.weightSettings.update(setting.id, {
          state: "confirmed",
          txRef: done.ref,
          confirmedBlock: done.block,
        }),
      );
      log.info("weights set", {
        id: setting.id,
        uids: setting.uids,
        weights: setting.weights,
        block: done.block,
        why,
      });
      return { action: "set", reason: why, setting: store.weightSettings.get(setting.id) };
    } catch (error) {
      if (error instanceof ExtrinsicInDoubt) {
        // Left open with its extrinsic recorded: the next pass asks where it stands.
        log.warn("weights extrinsic in doubt; it is looked for before anything else is sent", {
          id: setting.id,
          error,
        });
        if (options.signal?.aborted) throw error;
        return { action: "waiting", reason: error.message, setting: store.weightSettings.get(setting.id) };
      }
      if (options.signal?.aborted) throw error;
      const err = CacheonError.from(error);
      store.transaction(() =>
        store.weightSettings.update(setting.id, { state: "failed", error: `${err.code}: ${err.message}` }),
      );
      log.warn("setting weights failed", { id: setting.id, error: err });
      return { action: "failed", reason: err.message, setting: store.weightSettings.get(setting.id) };
    }
  }
}

/**
 * The weights the current standing asks for, its seats resolved to uids in the metagraph of
 * `at.block` (paid-seats.ts): a seat whose submission was replaced or disqualified, or whose hotkey
 * left the subnet or registered again since its commitment, is not paid; the leader's share then
 * goes by policy.vacantLeader.
 */
export function desiredWeights(
  store: ControllerStore,
  policy: WeightPolicy,
  at: { block: number; neurons: readonly NeuronAt[] },
): WeightVector | undefined {
  const standing = store.standings.current<Standing>();
  const holder = (seat: Seat | undefined): SeatHolder | undefined => {
    const sub = seat ? store.submissions.get(seat.submissionId) : undefined;
    return seat
      ? {
          submissionId: seat.submissionId,
          hotkey: seat.hotkey,
          commitBlock: seat.commitBlock,
          state: sub?.state ?? "missing",
        }
      : undefined;
  };
  const resolved = resolvePaidSeats({
    leader: holder(standing.leader),
    runnerUp: holder(standing.runnerUp),
    neurons: at.neurons,
    block: at.block,
    vacantLeader: policy.vacantLeader ?? "promote-runner-up",
  });
  const vector = computeWeights(resolved.paid, policy);
  if (!vector || resolved.dropped.length === 0) return vector;
  const dropped = resolved.dropped.map((d) => `${d.seat} not paid: ${d.reason}`).join("; ");
  return { ...vector, reason: `${vector.reason}; ${dropped}` };
}

function sameWeights(
  a: { uids: number[]; weights: number[] },
  b: { uids: number[]; weights: number[] },
): boolean {
  if (a.uids.length !== b.uids.length) return false;
  return a.uids.every(
    (uid, i) => uid === b.uids[i] && Math.abs((a.weights[i] ?? -9) - (b.weights[i] ?? 0)) <= 1,
  );
}
