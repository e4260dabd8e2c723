import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CacheonError } from "../../../shared/errors/cacheon-error.ts";
import type { CommitmentEntry, CommitmentSnapshot } from "../../intake/ingest-commitments.ts";
import type { WeightTarget } from "../../weights/weight-setter.ts";
import type { CommitmentSource } from "../controller-cycle.ts";

/** The state of a {@link fileChain}: what a chain holds for one validator, in a JSON file. */
export interface FileChainState {
  block: number;
  entries: CommitmentEntry[];
  lastUpdate: number;
  uids: number[];
  weights: number[];
  /** Every set_weights the chain accepted, in order, with its extrinsic's hash. */
  accepted: { block: number; uids: number[]; weights: number[]; hash?: string }[];
  /** The chain's WeightsSetRateLimit. */
  rateLimit: number;
}

/**
 * A chain kept in a JSON file, so it outlives controller processes that are killed and
 * restarted: a test double for the public chain in the kill-and-restart test (the devnet tests
 * cover the real protocol). Each finalized-head read advances one block. Writes are atomic.
 */
export function fileChain(
  path: string,
  hooks: { beforeSet?: () => void; afterSet?: () => Promise<void> } = {},
) {
  const read = () => JSON.parse(readFileSync(path, "utf8")) as FileChainState;
  const write = (s: FileChainState) => {
    writeFileSync(`${path}.tmp`, JSON.stringify(s));
    renameSync(`${path}.tmp`, path);
  };
  const advance = () => {
    const s = read();
    s.block += 1;
    write(s);
    return s;
  };
  const source: CommitmentSource = {
    async snapshot(): Promise<CommitmentSnapshot> {
      const s = advance();
      return { block: s.block, entries: s.entries };
    },
  };
  const target: WeightTarget = {
    finalizedBlock: async () => advance().block,
    // Every committed hotkey holds the uid of its entry, registered at genesis.
    readNeurons: async () => {
      const s = read();
      return {
        block: s.block,
        neurons: s.entries.map((e) => ({ uid: e.uid, hotkey: e.hotkey, registeredAt: 0 })),
      };
    },
    // An extrinsic is valid for 2 blocks after it is signed, like a (very short) mortal era.
    extrinsicFate: async (sent) => {
      const s = read();
      const landed = s.accepted.find((a) => a.hash === sent.hash);
      if (landed)
        return { state: "landed", block: { number: landed.block, hash: `0x${landed.block.toString(16)}` } };
      return s.block <= sent.validUntil
        ? { state: "pending", reason: `${sent.hash} may land until block ${sent.validUntil}` }
        : { state: "lost", reason: `${sent.hash} did not land by block ${sent.validUntil}` };
    },
    readOwnWeights: async () => {
      const s = read();
      return { lastUpdate: s.lastUpdate, uids: s.uids, weights: s.weights };
    },
    async setWeights(uids, weights, _signal, _intentId, onSigned) {
      // Signed (and recorded by the caller) first, then sent: a kill at beforeSet leaves an
      // extrinsic that never reached the chain, which lapses after its 2-block era.
      const signedAt = read();
      const hash = `0xfile-set-weights-${signedAt.block}-${signedAt.accepted.length}`;
      onSigned?.({
        hash,
        signer: "validator",
        nonce: signedAt.accepted.length,
        birthBlock: signedAt.block,
        validUntil: signedAt.block + 2,
      });
      hooks.beforeSet?.();
      const s = read();
      if (s.lastUpdate > 0 && s.block - s.lastUpdate < s.rateLimit) {
        throw new CacheonError(
          "failed-precondition",
          "the chain refused the extrinsic: subtensorModule.SettingWeightsTooFast",
        );
      }
      s.block += 1;
      Object.assign(s, { uids, weights, lastUpdate: s.block });
      s.accepted.push({ block: s.block, uids, weights, hash });
      write(s);
      await hooks.afterSet?.();
      return { block: s.block, ref: `file-block-${s.block}` };
    },
  };
  return {
    source,
    target,
    read,
    write,
    finalizedHead: async () => ({
      block: read().block,
      hash: `0x${read().block.toString(16).padStart(64, "0")}`,
    }),
  };
}

/** Writes a fresh chain file in `dir` holding `entries`, no weights yet and no rate limit; returns its path. */
export function writeFileChain(dir: string, entries: CommitmentEntry[]): string {
  const path = join(dir, "chain.json");
  const state: FileChainState = {
    block: 100,
    entries,
    lastUpdate: 0,
    uids: [],
    weights: [],
    accepted: [],
    rateLimit: 0,
  };
  writeFileSync(path, JSON.stringify(state));
  return path;
}
