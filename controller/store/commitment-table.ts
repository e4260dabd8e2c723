import type { DatabaseSync } from "node:sqlite";
import type { Row } from "./row-values.ts";

/** The last commitment seen from a hotkey, and the submission it became. */
export interface CommitmentRow {
  hotkey: string;
  raw: string;
  commitBlock: number;
  submissionId: string;
}

/** The `commitments` table: one row per hotkey, so intake sees what changed on chain. */
export class CommitmentTable {
  readonly #db: DatabaseSync;
  readonly #now: () => number;

  constructor(db: DatabaseSync, now: () => number) {
    this.#db = db;
    this.#now = now;
  }

  /** The last commitment seen from a hotkey. */
  get(hotkey: string): CommitmentRow | undefined {
    const row = this.#db.prepare("SELECT * FROM commitments WHERE hotkey = ?").get(hotkey) as Row | undefined;
    return row ? commitmentFromRow(row) : undefined;
  }

  list(): CommitmentRow[] {
    return (this.#db.prepare("SELECT * FROM commitments ORDER BY hotkey").all() as Row[]).map(
      commitmentFromRow,
    );
  }

  put(c: CommitmentRow): void {
    this.#db
      .prepare(
        `INSERT INTO commitments (hotkey, raw, commit_block, submission_id, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (hotkey) DO UPDATE SET raw = excluded.raw, commit_block = excluded.commit_block, submission_id = excluded.submission_id, updated_at = excluded.updated_at`,
      )
      .run(c.hotkey, c.raw, c.commitBlock, c.submissionId, this.#now());
  }

  delete(hotkey: string): void {
    this.#db.prepare("DELETE FROM commitments WHERE hotkey = ?").run(hotkey);
  }
}

function commitmentFromRow(row: Row): CommitmentRow {
  return {
    hotkey: String(row.hotkey),
    raw: String(row.raw),
    commitBlock: Number(row.commit_block),
    submissionId: String(row.submission_id),
  };
}
