import type { ApiPromise } from "@polkadot/api";
import type { SubmittableExtrinsic } from "@polkadot/api/types";
import type { KeyringPair } from "@polkadot/keyring/types";
import type { DispatchError, EventRecord, ExtrinsicStatus } from "@polkadot/types/interfaces";
import { CacheonError, type ErrorCode } from "../../shared/errors/cacheon-error.ts";
import { chainDispatchError, translateRpcError } from "./chain-errors.ts";

// Submitting an extrinsic so that it cannot hang and cannot be sent twice by mistake. Every
// extrinsic is mortal (valid for `mortalBlocks` after the finalized block it is signed against),
// every wait has a deadline, and every status the node can send ends in one of three answers:
// - it is final: the block, or the runtime's refusal (ChainDispatchError);
// - it will never land (refused by the pool when sent, or Usurped): ExtrinsicNotLanded;
// - it may still land until its era ends (Dropped, Invalid, FinalityTimeout, the deadline, a lost
//   connection, cancellation): ExtrinsicInDoubt, carrying what to persist. Whoever resends must
//   first ask extrinsicFate() and resend only once it says "lost": a dropped extrinsic can still be
//   in another node's pool, and an Invalid one may be invalid because it already landed.

/** What identifies a sent extrinsic, to persist while its fate is unknown. */
export interface SentExtrinsic {
  /** Extrinsic hash (blake2_256 of its bytes). */
  hash: string;
  /** Signer's SS58 address. */
  signer: string;
  nonce: number;
  /** The block its mortal era starts at (the finalized block it was signed against). */
  birthBlock: number;
  /** The last block it can be included in; after that it can never land. */
  validUntil: number;
}

/** Options of {@link submitExtrinsic}. */
export interface SubmitOptions {
  signal?: AbortSignal | undefined;
  /** Stop waiting for finality after this long, ms; the extrinsic is then in doubt. @default 180000 */
  deadlineMs?: number | undefined;
  /** Blocks the extrinsic stays valid (its mortal era; the encoding rounds to a power of two >= 4). @default 32 */
  mortalBlocks?: number | undefined;
  /**
   * Which nonce to sign with: "pool", the account's next counting its transactions waiting in the
   * node's pool (for several extrinsics in a row), or "chain", the account's nonce in the best
   * block's state (for one extrinsic at a time: a transaction of ours left in the pool, whose era
   * ended, cannot push this one's nonce beyond reach; the pool refuses this one while it is there),
   * or a number (extrinsics meant to follow each other: nonce, nonce + 1, ...). @default "pool"
   */
  nonce?: "pool" | "chain" | number | undefined;
  /** Called once signed, before it is sent: persist it to know after a crash that it may land. */
  onSigned?: ((sent: SentExtrinsic) => void) | undefined;
  /** Called at each status the node reports (Ready, InBlock, ...), e.g. to report progress. */
  onStatus?: ((status: string) => void) | undefined;
}

/** A finalized block holding the extrinsic. */
export interface IncludedBlock {
  number: number;
  hash: string;
}

/** The extrinsic may still land until `sent.validUntil`: do not send another for the same intent before extrinsicFate() says "lost". */
export class ExtrinsicInDoubt extends CacheonError {
  readonly sent: SentExtrinsic;
  readonly lastStatus: string;
  constructor(code: ErrorCode, sent: SentExtrinsic, lastStatus: string, why: string) {
    super(
      code,
      `extrinsic ${sent.hash} (nonce ${sent.nonce}) ${why}; it may still land until block ${sent.validUntil}, so nothing is resent for it before then`,
    );
    this.sent = sent;
    this.lastStatus = lastStatus;
  }
}

/** The extrinsic will never land (another took its nonce); sending a new one is safe. */
export class ExtrinsicNotLanded extends CacheonError {
  readonly sent: SentExtrinsic;
  constructor(sent: SentExtrinsic, why: string) {
    super("unavailable", `extrinsic ${sent.hash} will not land: ${why}; send it again`);
    this.sent = sent;
  }
}

const defaultDeadlineMs = 180_000;
const defaultMortalBlocks = 32;

/**
 * Signs (mortal), submits, and waits for finality within the deadline. Resolves with the block;
 * throws ChainDispatchError when the runtime refused it in a block, ExtrinsicNotLanded or a
 * translated pool refusal when it can never land, ExtrinsicInDoubt when it may.
 */
export async function submitExtrinsic(
  api: ApiPromise,
  extrinsic: SubmittableExtrinsic<"promise">,
  signer: KeyringPair,
  options: SubmitOptions = {},
): Promise<IncludedBlock> {
  const { signal } = options;
  if (signal?.aborted) throw new CacheonError("cancelled", "cancelled before submitting");
  const period = options.mortalBlocks ?? defaultMortalBlocks;
  const nonce =
    typeof options.nonce === "number"
      ? options.nonce
      : options.nonce === "chain"
        ? await chainNonce(api, signer.address)
        : -1;
  await extrinsic.signAsync(signer, { nonce, era: period });
  const sent = await describeSent(api, extrinsic, signer.address);
  // A cancellation during the awaits above fired before anyone listened: nothing was sent yet, so
  // stop here rather than send an extrinsic whose watch nobody wants (and miss the abort).
  if (signal?.aborted) throw new CacheonError("cancelled", "cancelled before submitting: signed, never sent");
  options.onSigned?.(sent);
  let last = "Signed";
  return new Promise<IncludedBlock>((resolve, reject) => {
    let settled = false;
    let unsubscribe: (() => void) | undefined;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      unsubscribe?.();
      fn();
    };
    const doubt = (code: ErrorCode, why: string) =>
      finish(() => reject(new ExtrinsicInDoubt(code, sent, last, why)));
    const onAbort = () => doubt("cancelled", "was being watched when the work was cancelled");
    signal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(
      () =>
        doubt(
          "deadline-exceeded",
          `was not final within ${options.deadlineMs ?? defaultDeadlineMs} ms (last status ${last})`,
        ),
      options.deadlineMs ?? defaultDeadlineMs,
    );
    const onStatus = (status: ExtrinsicStatus) => {
      last = status.type;
      options.onStatus?.(status.type);
      if (status.isFinalized) {
        const hash = status.asFinalized.toHex();
        outcomeIn(api, hash, sent.hash).then(
          (outcome) => finish(() => (outcome.ok ? resolve(outcome.block) : reject(outcome.error))),
          (error) =>
            doubt(
              "unavailable",
              `is final in ${hash} but its outcome could not be read (${(error as Error).message})`,
            ),
        );
      } else if (status.isUsurped)
        finish(() => reject(new ExtrinsicNotLanded(sent, "another transaction took its nonce (Usurped)")));
      else if (status.isDropped) doubt("unavailable", "was dropped by the node's pool");
      else if (status.isInvalid) doubt("unavailable", "was declared invalid by the node's pool");
      else if (status.isFinalityTimeout)
        doubt("unavailable", `was in block ${status.asFinalityTimeout.toHex()} whose finality timed out`);
    };
    api.rpc.author.submitAndWatchExtrinsic(extrinsic, onStatus).then(
      (u) => {
        if (settled) u();
        else unsubscribe = u;
      },
      (error: Error) => finish(() => reject(translateRpcError(error))),
    );
  });
}

async function chainNonce(api: ApiPromise, address: string): Promise<number> {
  const account = await api.query.system?.account?.(address);
  return Number((account?.toJSON() as { nonce?: number } | undefined)?.nonce ?? 0);
}

/** The mortal era's span, read back from the signed extrinsic. */
async function describeSent(
  api: ApiPromise,
  extrinsic: SubmittableExtrinsic<"promise">,
  signer: string,
): Promise<SentExtrinsic> {
  const era = extrinsic.era;
  const best = (await api.rpc.chain.getHeader()).number.toNumber();
  const mortal = era.isMortalEra ? era.asMortalEra : undefined;
  // birth/death of a mortal era are relative to any block inside it; the best block is.
  const birthBlock = mortal ? mortal.birth(best) : 0;
  const validUntil = mortal ? mortal.death(best) - 1 : Number.MAX_SAFE_INTEGER;
  return { hash: extrinsic.hash.toHex(), signer, nonce: extrinsic.nonce.toNumber(), birthBlock, validUntil };
}

/** The extrinsic's outcome in a block: the block, or the runtime's refusal. */
async function outcomeIn(
  api: ApiPromise,
  blockHash: string,
  extrinsicHash: string,
): Promise<{ ok: true; block: IncludedBlock } | { ok: false; error: CacheonError }> {
  const signed = await api.rpc.chain.getBlock(blockHash);
  const number = signed.block.header.number.toNumber();
  const index = signed.block.extrinsics.findIndex((x) => x.hash.toHex() === extrinsicHash);
  if (index < 0) throw new Error(`block ${blockHash} does not hold ${extrinsicHash}`);
  const failure = await dispatchFailure(api, blockHash, index);
  return failure
    ? { ok: false, error: chainDispatchError(api.registry, failure) }
    : { ok: true, block: { number, hash: blockHash } };
}

async function dispatchFailure(
  api: ApiPromise,
  blockHash: string,
  index: number,
): Promise<DispatchError | undefined> {
  const events = (await (await api.at(blockHash)).query.system?.events?.()) as unknown as
    | EventRecord[]
    | undefined;
  for (const record of events ?? []) {
    if (!record.phase.isApplyExtrinsic || record.phase.asApplyExtrinsic.toNumber() !== index) continue;
    const { event } = record;
    if (event.section === "system" && event.method === "ExtrinsicFailed")
      return event.data[0] as DispatchError;
  }
  return undefined;
}

/** Where an extrinsic that was in doubt stands now. */
export type ExtrinsicFate =
  | { state: "landed"; block: IncludedBlock; error?: CacheonError | undefined }
  | { state: "pending"; reason: string }
  | { state: "lost"; reason: string };

/**
 * Looks for an in-doubt extrinsic in the finalized blocks of its era: found (with its outcome),
 * still able to land (its era has not ended at the finalized head), or lost for good.
 */
export async function extrinsicFate(api: ApiPromise, sent: SentExtrinsic): Promise<ExtrinsicFate> {
  const finalizedHash = await api.rpc.chain.getFinalizedHead();
  const finalized = (await api.rpc.chain.getHeader(finalizedHash)).number.toNumber();
  const last = Math.min(finalized, sent.validUntil);
  for (let n = sent.birthBlock; n <= last; n += 1) {
    const hash = (await api.rpc.chain.getBlockHash(n)).toHex();
    const body = await api.rpc.chain.getBlock(hash);
    const index = body.block.extrinsics.findIndex((x) => x.hash.toHex() === sent.hash);
    if (index < 0) continue;
    const failure = await dispatchFailure(api, hash, index);
    return {
      state: "landed",
      block: { number: n, hash },
      error: failure ? chainDispatchError(api.registry, failure) : undefined,
    };
  }
  if (finalized < sent.validUntil)
    return {
      state: "pending",
      reason: `extrinsic ${sent.hash} is not in finalized blocks ${sent.birthBlock}-${finalized} and may land until block ${sent.validUntil}`,
    };
  return {
    state: "lost",
    reason: `extrinsic ${sent.hash} is in none of blocks ${sent.birthBlock}-${sent.validUntil}, the whole of its era: it can never land`,
  };
}
