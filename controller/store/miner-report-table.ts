import type { DatabaseSync } from "node:sqlite";
import type { Row } from "./row-values.ts";

/** The report a miner reads about its submission in one round. */
export interface MinerReportRow {
  roundId: string;
  hotkey: string;
  submissionId: string;
  report: unknown;
}

/** The `miner_reports` table: one row per (round, hotkey). */
export class MinerReportTable {
  readonly #db: DatabaseSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** Stores a report; a second write for the same (round, hotkey) replaces the first. */
  put(r: MinerReportRow): void {
    this.#db
      .prepare(
        "INSERT OR REPLACE INTO miner_reports (round_id, hotkey, submission_id, report) VALUES (?, ?, ?, ?)",
      )
      .run(r.roundId, r.hotkey, r.submissionId, JSON.stringify(r.report));
  }

  /** Reports of one round, or of one hotkey across rounds, in round order. */
  list(filter: { roundId?: string; hotkey?: string }): MinerReportRow[] {
    const where = filter.roundId !== undefined ? "m.round_id = ?" : "m.hotkey = ?";
    const arg = filter.roundId ?? filter.hotkey ?? "";
    return (
      this.#db
        .prepare(
          `SELECT m.* FROM miner_reports m JOIN rounds r ON r.id = m.round_id WHERE ${where} ORDER BY r.number, m.hotkey`,
        )
        .all(arg) as Row[]
    ).map((r) => ({
      roundId: String(r.round_id),
      hotkey: String(r.hotkey),
      submissionId: String(r.submission_id),
      report: JSON.parse(String(r.report)),
    }));
  }
}
