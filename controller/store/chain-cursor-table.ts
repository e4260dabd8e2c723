import type { DatabaseSync } from "node:sqlite";
import type { Row } from "./row-values.ts";

/** A persisted position in the finalized chain: the last block a reader has fully processed. */
export interface ChainCursor {
  name: string;
  block: number;
  blockHash: string;
  updatedAt: number;
}

/** The `chain_cursors` table: named cursors over finalized blocks, so a restart resumes where it stopped. */
export class ChainCursorTable {
  readonly #db: DatabaseSync;
  readonly #now: () => number;

  constructor(db: DatabaseSync, now: () => number) {
    this.#db = db;
    this.#now = now;
  }

  get(name: string): ChainCursor | undefined {
    const r = this.#db.prepare("SELECT * FROM chain_cursors WHERE name = ?").get(name) as Row | undefined;
    return r
      ? {
          name: String(r.name),
          block: Number(r.block),
          blockHash: String(r.block_hash),
          updatedAt: Number(r.updated_at),
        }
      : undefined;
  }

  set(name: string, block: number, blockHash: string): void {
    this.#db
      .prepare(
        "INSERT INTO chain_cursors (name, block, block_hash, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET block = excluded.block, block_hash = excluded.block_hash, updated_at = excluded.updated_at",
      )
      .run(name, block, blockHash, this.#now());
  }
}
