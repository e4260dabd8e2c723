import type { DatabaseSync } from "node:sqlite";
import type { Row } from "./row-values.ts";

/** A challenger's verdict in a settled round. */
export interface VerdictRow {
  roundId: string;
  submissionId: string;
  hotkey: string;
  verdict: string;
  speed: number;
  settledSpeed: number;
  reason: string;
  evidence: unknown;
}

/** The `verdicts` table: one row per (round, submission). */
export class VerdictTable {
  readonly #db: DatabaseSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** Stores a verdict; a second write for the same (round, submission) replaces the first. */
  put(v: VerdictRow): void {
    this.#db
      .prepare(
        `INSERT OR REPLACE INTO verdicts (round_id, submission_id, hotkey, verdict, speed, settled_speed, reason, evidence)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        v.roundId,
        v.submissionId,
        v.hotkey,
        v.verdict,
        v.speed,
        v.settledSpeed,
        v.reason,
        JSON.stringify(v.evidence),
      );
  }

  /** Verdicts of one round, or of one submission across rounds, in round order. */
  list(filter: { roundId?: string; submissionId?: string }): VerdictRow[] {
    const where = filter.roundId !== undefined ? "round_id = ?" : "submission_id = ?";
    const arg = filter.roundId ?? filter.submissionId ?? "";
    return (
      this.#db
        .prepare(
          `SELECT v.* FROM verdicts v JOIN rounds r ON r.id = v.round_id WHERE ${where} ORDER BY r.number, v.submission_id`,
        )
        .all(arg) as Row[]
    ).map((r) => ({
      roundId: String(r.round_id),
      submissionId: String(r.submission_id),
      hotkey: String(r.hotkey),
      verdict: String(r.verdict),
      speed: Number(r.speed),
      settledSpeed: Number(r.settled_speed),
      reason: String(r.reason),
      evidence: JSON.parse(String(r.evidence)),
    }));
  }
}
