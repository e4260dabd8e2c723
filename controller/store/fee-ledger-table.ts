import type { DatabaseSync } from "node:sqlite";
import type { LedgerPayment } from "../fees/fee-decision.ts";
import type { FeePayment, PendingTransfer } from "../fees/fee-payments.ts";
import { parseFeeRemark } from "../fees/fee-remark.ts";
import { type Row, strOrNull } from "./row-values.ts";

/**
 * The fee ledger's tables (migration 5): fee payments found in finalized blocks and the submission
 * each paid for, transfers still waiting for their remark, and blocks that could not be read.
 */
export class FeeLedgerTable {
  readonly #db: DatabaseSync;
  readonly #now: () => number;

  constructor(db: DatabaseSync, now: () => number) {
    this.#db = db;
    this.#now = now;
  }

  /** Records a payment (once: the same extrinsic read again changes nothing). */
  insertPayment(p: FeePayment): void {
    this.#db
      .prepare(
        `INSERT INTO fee_payments (id, block, extrinsic_index, payer, destination, amount, netuid, hotkey, digest, remark, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      )
      .run(
        p.id,
        p.block,
        p.extrinsicIndex,
        p.payer,
        p.destination,
        p.amount.toString(),
        p.remark.netuid,
        p.remark.hotkey,
        p.remark.digest ?? p.remark.sealed,
        p.remarkText,
        this.#now(),
      );
  }

  /** Payments whose remark names `hotkey`, oldest first. */
  paymentsFor(hotkey: string): LedgerPayment[] {
    return (
      this.#db
        .prepare("SELECT * FROM fee_payments WHERE hotkey = ? ORDER BY block, extrinsic_index")
        .all(hotkey) as Row[]
    ).flatMap((r) => {
      const remark = parseFeeRemark(String(r.remark));
      if (!remark) return [];
      return [
        {
          id: String(r.id),
          block: Number(r.block),
          extrinsicIndex: Number(r.extrinsic_index),
          payer: String(r.payer),
          destination: String(r.destination),
          amount: BigInt(String(r.amount)),
          remark,
          remarkText: String(r.remark),
          consumedBy: strOrNull(r.consumed_by),
        },
      ];
    });
  }

  /** Marks a payment as the one that paid for `submissionId`; false when another submission already used it. */
  consume(paymentId: string, submissionId: string): boolean {
    const r = this.#db
      .prepare(
        "UPDATE fee_payments SET consumed_by = ? WHERE id = ? AND (consumed_by IS NULL OR consumed_by = ?)",
      )
      .run(submissionId, paymentId, submissionId);
    return Number(r.changes) === 1;
  }

  /** Remembers a transfer whose remark may be its payer's next transaction. */
  insertTransfer(t: PendingTransfer): void {
    this.#db
      .prepare(
        `INSERT INTO fee_transfers (id, block, extrinsic_index, payer, nonce, destination, amount, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      )
      .run(
        t.id,
        t.block,
        t.extrinsicIndex,
        t.payer,
        t.nonce,
        t.destination,
        t.amount.toString(),
        this.#now(),
      );
  }

  /** The payer's transfer of `nonce`, removed: a remark has completed it (or it is taken for good). */
  takeTransfer(payer: string, nonce: number): PendingTransfer | undefined {
    const r = this.#db
      .prepare("SELECT * FROM fee_transfers WHERE payer = ? AND nonce = ?")
      .get(payer, nonce) as Row | undefined;
    if (!r) return undefined;
    this.#db.prepare("DELETE FROM fee_transfers WHERE id = ?").run(String(r.id));
    return {
      id: String(r.id),
      block: Number(r.block),
      extrinsicIndex: Number(r.extrinsic_index),
      payer: String(r.payer),
      nonce: Number(r.nonce),
      destination: String(r.destination),
      amount: BigInt(String(r.amount)),
    };
  }

  /** Forgets transfers older than `block` (their remark can no longer make a payment anyone can use). */
  pruneTransfers(block: number): void {
    this.#db.prepare("DELETE FROM fee_transfers WHERE block < ?").run(block);
  }

  addGap(from: number, to: number, reason: string): void {
    this.#db
      .prepare("INSERT INTO fee_ledger_gaps (from_block, to_block, reason, created_at) VALUES (?, ?, ?, ?)")
      .run(from, to, reason, this.#now());
  }

  gaps(): { from: number; to: number; reason: string }[] {
    return (this.#db.prepare("SELECT * FROM fee_ledger_gaps ORDER BY from_block").all() as Row[]).map(
      (r) => ({
        from: Number(r.from_block),
        to: Number(r.to_block),
        reason: String(r.reason),
      }),
    );
  }
}
