import type { DatabaseSync } from "node:sqlite";
import type { SentExtrinsic } from "../chain/extrinsic-submitter.ts";
import { jsonOrNull, numOrNull, type Row, strOrNull } from "./row-values.ts";

/**
 * "intent" is written before the chain is asked; "submitted" once its extrinsic is signed (with
 * `sent`, before it is sent); "confirmed" after reading the weights back.
 */
export type WeightSettingState = "intent" | "submitted" | "confirmed" | "failed";

export interface WeightSettingRow {
  id: number;
  block: number;
  uids: number[];
  weights: number[];
  key: string;
  reason: string;
  state: WeightSettingState;
  txRef: string | null;
  confirmedBlock: number | null;
  error: string | null;
  /** The signed extrinsic carrying it, while it may land (null before signing, and for commit-reveal). */
  sent: SentExtrinsic | null;
  createdAt: number;
  updatedAt: number;
}

/** The `weight_settings` table: one row per attempt to set weights, from intent to outcome. */
export class WeightSettingTable {
  readonly #db: DatabaseSync;
  readonly #now: () => number;

  constructor(db: DatabaseSync, now: () => number) {
    this.#db = db;
    this.#now = now;
  }

  /** Records the intent to set weights, before the chain is asked. */
  insertIntent(w: {
    block: number;
    uids: number[];
    weights: number[];
    key: string;
    reason: string;
  }): WeightSettingRow {
    const t = this.#now();
    const r = this.#db
      .prepare(
        "INSERT INTO weight_settings (block, uids, weights, key, reason, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'intent', ?, ?)",
      )
      .run(w.block, JSON.stringify(w.uids), JSON.stringify(w.weights), w.key, w.reason, t, t);
    return this.get(Number(r.lastInsertRowid)) as WeightSettingRow;
  }

  update(
    id: number,
    u: {
      state: WeightSettingState;
      txRef?: string | null;
      confirmedBlock?: number | null;
      error?: string | null;
      sent?: SentExtrinsic | null;
    },
  ): void {
    this.#db
      .prepare(
        "UPDATE weight_settings SET state = ?, tx_ref = COALESCE(?, tx_ref), confirmed_block = COALESCE(?, confirmed_block), error = ?, sent_extrinsic = COALESCE(?, sent_extrinsic), updated_at = ? WHERE id = ?",
      )
      .run(
        u.state,
        u.txRef ?? null,
        u.confirmedBlock ?? null,
        u.error ?? null,
        u.sent ? JSON.stringify(u.sent) : null,
        this.#now(),
        id,
      );
  }

  get(id: number): WeightSettingRow | undefined {
    const row = this.#db.prepare("SELECT * FROM weight_settings WHERE id = ?").get(id) as Row | undefined;
    return row ? weightFromRow(row) : undefined;
  }

  /** Weight settings, newest first. */
  list(filter: { states?: readonly WeightSettingState[]; limit?: number } = {}): WeightSettingRow[] {
    const states = filter.states ?? ["intent", "submitted", "confirmed", "failed"];
    return (
      this.#db
        .prepare(
          `SELECT * FROM weight_settings WHERE state IN (${states.map(() => "?").join(", ")}) ORDER BY id DESC LIMIT ?`,
        )
        .all(...states, filter.limit ?? 1000) as Row[]
    ).map(weightFromRow);
  }
}

function weightFromRow(r: Row): WeightSettingRow {
  return {
    id: Number(r.id),
    block: Number(r.block),
    uids: JSON.parse(String(r.uids)) as number[],
    weights: JSON.parse(String(r.weights)) as number[],
    key: String(r.key),
    reason: String(r.reason),
    state: String(r.state) as WeightSettingState,
    txRef: strOrNull(r.tx_ref),
    confirmedBlock: numOrNull(r.confirmed_block),
    error: strOrNull(r.error),
    sent: jsonOrNull<SentExtrinsic>(r.sent_extrinsic),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}
