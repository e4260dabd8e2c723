import type { DatabaseSync } from "node:sqlite";
import { numOrNull, type Row, strOrNull } from "./row-values.ts";

/** What one arm of a job measured, as scored. */
export interface ArmResultRow {
  jobId: string;
  armId: string;
  role: string;
  submissionId: string;
  outcome: string;
  gate: string | null;
  speed: number | null;
  wallS: number | null;
  wallCv: number | null;
  reason: string;
}

/** The `arm_results` table: one row per (job attempt, arm). */
export class ArmResultTable {
  readonly #db: DatabaseSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** Stores an arm's result; a second write for the same (job, arm) replaces the first. */
  put(a: ArmResultRow): void {
    this.#db
      .prepare(
        `INSERT OR REPLACE INTO arm_results (job_id, arm_id, role, submission_id, outcome, gate, speed, wall_s, wall_cv, reason)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(a.jobId, a.armId, a.role, a.submissionId, a.outcome, a.gate, a.speed, a.wallS, a.wallCv, a.reason);
  }

  list(jobId: string): ArmResultRow[] {
    return (
      this.#db.prepare("SELECT * FROM arm_results WHERE job_id = ? ORDER BY arm_id").all(jobId) as Row[]
    ).map((r) => ({
      jobId: String(r.job_id),
      armId: String(r.arm_id),
      role: String(r.role),
      submissionId: String(r.submission_id),
      outcome: String(r.outcome),
      gate: strOrNull(r.gate),
      speed: numOrNull(r.speed),
      wallS: numOrNull(r.wall_s),
      wallCv: numOrNull(r.wall_cv),
      reason: String(r.reason),
    }));
  }
}
