import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import type { Standing } from "../scoring/settle-standing.ts";
import type { ControllerStore } from "../store/controller-store.ts";
import type { WeightSettingRow } from "../store/weight-setting-table.ts";
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
  /** This validator's weights as finalized now, and the block they were last set in (0 = never). */
  readOwnWeights(): Promise<{ lastUpdate: number; uids: number[]; weights: number[] }>;
  /**
   * Sets weights and resolves once they are final and read back; rejects when refused. `intentId`
   * names the store intent: under commit-reveal a commit already made for it is resumed, not repeated.
   */
  setWeights(
    uids: number[],
    weights: number[],
    signal?: AbortSignal,
    intentId?: number,
  ): Promise<{ block: number; ref: string }>;
  /** Whether a commit of this intent is still between commit and reveal (commit-reveal only). */
  pendingCommit?(intentId: number): boolean;
}

/** Cadence of weight setting. */
export interface WeightCadence {
  /** Set at least this often even when unchanged, blocks (weights expire). @default 360 */
  refreshBlocks: number;
  /** Never more often than this, blocks (the chain's WeightsSetRateLimit). @default 100 */
  rateLimitBlocks: number;
  /**
   * A recorded intent younger than this many blocks whose weights are not on chain yet may still
   * be in flight: wait rather than send again. @default 5
   */
  inFlightBlocks: number;
}

export const defaultWeightCadence: Readonly<WeightCadence> = Object.freeze({
  refreshBlocks: 360,
  rateLimitBlocks: 100,
  inFlightBlocks: 5,
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
 * asked and the confirmation after; a controller killed in between finds the intent on restart
 * and reads the chain: weights already there are confirmed without sending them again, weights
 * not there are sent (once the intent is old enough not to be in flight).
 */
export async function setWeightsIfDue(options: SetWeightsIfDueOptions): Promise<WeightStepResult> {
  const { store, target } = options;
  const cadence = options.cadence ?? defaultWeightCadence;
  const log = options.logger ?? silentLogger;
  const block = await target.finalizedBlock();

  const open = store.weightSettings.list({ states: ["intent", "submitted"], limit: 1 })[0];
  if (open) {
    // Under commit-reveal LastUpdate moves at the commit, long before the weights do: finish the
    // commit (its salt or ciphertext is in the store) instead of judging it by LastUpdate.
    if (target.pendingCommit?.(open.id))
      return send(open, "resuming a commit-reveal a stopped controller did not finish");
    const onChain = await target.readOwnWeights();
    if (onChain.lastUpdate >= open.block && sameWeights(onChain, open)) {
      store.transaction(() =>
        store.weightSettings.update(open.id, { state: "confirmed", confirmedBlock: onChain.lastUpdate }),
      );
      log.info("weights of an earlier run found on chain; confirmed without sending again", {
        id: open.id,
        block: onChain.lastUpdate,
      });
      return {
        action: "confirmed-earlier",
        reason: "found on chain",
        setting: store.weightSettings.get(open.id),
      };
    }
    if (onChain.lastUpdate >= open.block) {
      store.transaction(() =>
        store.weightSettings.update(open.id, {
          state: "failed",
          error: `other weights were set at block ${onChain.lastUpdate} after this intent`,
        }),
      );
    } else if (block - open.block < cadence.inFlightBlocks) {
      return { action: "waiting", reason: `intent ${open.id} of block ${open.block} may still be in flight` };
    } else {
      return send(open, "resending an intent a stopped controller did not complete");
    }
  }

  const desired = desiredWeights(store, options.policy);
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
      reason: `${due.reason}: ${desired.reason}`,
    }),
  );
  return send(intent, due.reason);

  async function send(setting: WeightSettingRow, why: string): Promise<WeightStepResult> {
    store.transaction(() => store.weightSettings.update(setting.id, { state: "submitted" }));
    try {
      const done = await target.setWeights(setting.uids, setting.weights, options.signal, setting.id);
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
 * The weights the current standing asks for, seats mapped to their hotkeys' current uids. A seat
 * whose submission was replaced, deregistered or disqualified since the round is not paid (its
 * uid may already belong to someone else); a lone runner-up then leads.
 */
export function desiredWeights(store: ControllerStore, policy: WeightPolicy): WeightVector | undefined {
  const standing = store.standings.current<Standing>();
  const uidOf = (id: string | undefined) => {
    const sub = id ? store.submissions.get(id) : undefined;
    return sub && (sub.state === "evaluated" || sub.state === "pending") ? (sub.uid ?? undefined) : undefined;
  };
  const leaderUid = uidOf(standing.leader?.submissionId);
  const runnerUpUid = uidOf(standing.runnerUp?.submissionId);
  return computeWeights(
    leaderUid === undefined ? { leaderUid: runnerUpUid } : { leaderUid, runnerUpUid },
    policy,
  );
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
