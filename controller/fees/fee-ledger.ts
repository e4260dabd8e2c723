import type { ApiPromise } from "@polkadot/api";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import { type BlockRecord, type ExtrinsicOutcome, readBlock, readOutcomes } from "../chain/block-reader.ts";
import type { ControllerStore } from "../store/controller-store.ts";
import {
  decideFee,
  type FeeCandidate,
  type FeePolicy,
  type FeeVerdict,
  type LedgerCoverage,
} from "./fee-decision.ts";
import { blockMayPay, feeItems, pairTransfer } from "./fee-payments.ts";

// The fee ledger: a cursor over finalized blocks, kept in the store, that records every fee
// payment it finds (fee-payments.ts), so intake can tell paid submissions from unpaid ones
// (fee-decision.ts). Each block is recorded in one transaction with the cursor, so a restart reads
// on from the last recorded block and never records a payment twice. A block whose events the node
// no longer has (state pruned) is recorded as a gap: payments there cannot be verified, and the
// submissions they might have paid for are unpaid, with that reason.

/** How the ledger reads blocks (the chain through @polkadot/api; a test may replay recorded blocks). */
export interface BlockSource {
  blockHash(number: number): Promise<string>;
  block(hash: string): Promise<BlockRecord>;
  outcomes(hash: string): Promise<ReadonlyMap<number, ExtrinsicOutcome>>;
}

/** Blocks read through @polkadot/api. */
export function chainBlockSource(api: ApiPromise): BlockSource {
  return {
    blockHash: async (n) => (await api.rpc.chain.getBlockHash(n)).toHex(),
    block: (hash) => readBlock(api, hash),
    outcomes: (hash) => readOutcomes(api, hash),
  };
}

/** Options of {@link FeeLedger}. */
export interface FeeLedgerOptions {
  source: BlockSource;
  store: ControllerStore;
  policy: FeePolicy;
  netuid: number;
  /** Most blocks read in one catchUp (a long stop is caught up over several passes). @default 600 */
  blocksPerPass?: number;
  /** Blocks fetched at once while catching up (recorded in order). @default 16 */
  fetchAhead?: number;
  /** First block to read on a fresh store; default: far enough back for any payment a commitment of the first head may use. */
  startBlock?: number;
  logger?: Logger;
}

/** Transfers older than this many blocks no longer wait for their remark (the payer's next transaction). */
const pendingTransferBlocks = 100;

/** The fee ledger of one subnet. */
export class FeeLedger {
  readonly policy: FeePolicy;
  readonly netuid: number;
  readonly #options: FeeLedgerOptions;
  readonly #log: Logger;
  readonly #cursor: string;
  readonly #origin: string;

  constructor(options: FeeLedgerOptions) {
    this.#options = options;
    this.policy = options.policy;
    this.netuid = options.netuid;
    this.#log = options.logger ?? silentLogger;
    this.#cursor = `fees:${options.netuid}`;
    this.#origin = `fees-origin:${options.netuid}`;
  }

  /** What has been read so far. */
  coverage(): LedgerCoverage {
    const { chainCursors, feeLedger } = this.#options.store;
    const origin = chainCursors.get(this.#origin);
    const cursor = chainCursors.get(this.#cursor);
    return {
      from: origin?.block ?? Number.MAX_SAFE_INTEGER,
      to: cursor?.block ?? -1,
      gaps: feeLedger.gaps(),
    };
  }

  /** Reads finalized blocks after the cursor up to `upTo` (at most blocksPerPass of them). */
  async catchUp(upTo: number, signal?: AbortSignal): Promise<{ from: number; to: number }> {
    const { store, source } = this.#options;
    let origin = store.chainCursors.get(this.#origin)?.block;
    if (origin === undefined) {
      const back = this.policy.windowBlocks + this.policy.revealBlocks;
      origin = Math.max(1, this.#options.startBlock ?? upTo - back);
      store.transaction(() => store.chainCursors.set(this.#origin, origin as number, ""));
      this.#log.info("fee ledger starts", { netuid: this.netuid, fromBlock: origin });
    }
    const from = Math.max(origin, (store.chainCursors.get(this.#cursor)?.block ?? origin - 1) + 1);
    const to = Math.min(upTo, from + (this.#options.blocksPerPass ?? 600) - 1);
    // Blocks are fetched a batch at a time (a catch-up after a stop reads hundreds, and each is a
    // round trip) and recorded strictly in order.
    const batch = this.#options.fetchAhead ?? 16;
    const fetched = new Map<number, Promise<BlockRecord>>();
    for (let n = from; n <= to; n += 1) {
      if (signal?.aborted) throw new CacheonError("cancelled", "stopped reading the fee ledger");
      if ((n - from) % batch === 0)
        for (let k = n; k < n + batch && k <= to; k += 1) {
          const read = source.blockHash(k).then((hash) => source.block(hash));
          // Its failure is thrown when its turn comes, or dropped if an earlier block failed first.
          read.catch(() => undefined);
          fetched.set(k, read);
        }
      const block = await (fetched.get(n) as Promise<BlockRecord>);
      fetched.delete(n);
      const { hash } = block;
      let outcomes: ReadonlyMap<number, ExtrinsicOutcome> = new Map();
      let gap: string | undefined;
      if (blockMayPay(block, this.policy.destination)) {
        try {
          outcomes = await source.outcomes(hash);
        } catch (error) {
          gap = `its events could not be read: ${(error as Error).message}`;
        }
      }
      store.transaction(() => this.#record(block, outcomes, gap));
    }
    return { from, to };
  }

  /**
   * Whether a submission paid its fee, from what the ledger has recorded. "wait" when the ledger has
   * not read the commitment's block yet.
   */
  decide(candidate: Omit<FeeCandidate, "netuid">): FeeVerdict {
    const payments = this.#options.store.feeLedger.paymentsFor(candidate.hotkey);
    return decideFee({ ...candidate, netuid: this.netuid }, payments, this.coverage(), this.policy);
  }

  /** Marks the payment as used by the submission (inside intake's transaction). */
  consume(paymentId: string, submissionId: string): boolean {
    return this.#options.store.feeLedger.consume(paymentId, submissionId);
  }

  #record(
    block: BlockRecord,
    outcomes: ReadonlyMap<number, ExtrinsicOutcome>,
    gap: string | undefined,
  ): void {
    const { feeLedger, chainCursors } = this.#options.store;
    if (gap) {
      feeLedger.addGap(block.number, block.number, gap);
      this.#log.warn("fee ledger cannot read a block: payments there cannot be verified", {
        block: block.number,
        reason: gap,
      });
    } else {
      const items = feeItems(block, outcomes, this.policy.destination);
      for (const t of items.transfers) feeLedger.insertTransfer(t);
      for (const p of items.payments) feeLedger.insertPayment(p);
      for (const r of items.remarks) {
        const transfer = feeLedger.takeTransfer(r.payer, r.nonce - 1);
        const payment = transfer ? pairTransfer(transfer, r) : undefined;
        if (payment) feeLedger.insertPayment(payment);
      }
      feeLedger.pruneTransfers(block.number - pendingTransferBlocks);
    }
    chainCursors.set(this.#cursor, block.number, block.hash);
  }
}
