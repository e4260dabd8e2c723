import type { DatabaseSync } from "node:sqlite";
import { type Row, strOrNull } from "./row-values.ts";

/** An arm's evidence bundle as the controller published it (or could not). */
export interface EvidenceRow {
  jobId: string;
  armId: string;
  /** sha256 (hex) the agent reported for the bundle (JobResult.evidence). */
  sha256: string;
  bytes: number;
  /** Where the bundle is published, relative to the publish root; null when it could not be. */
  publishedKey: string | null;
  /** Why it is not published (not uploaded, not the bytes the agent named); "" when published. */
  problem: string;
}

/** The `evidence_bundles` table: one row per (job, arm), written when its round is published. */
export class EvidenceTable {
  readonly #db: DatabaseSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** Records a bundle's publication; publishing again replaces the row. */
  put(r: EvidenceRow): void {
    this.#db
      .prepare(
        "INSERT OR REPLACE INTO evidence_bundles (job_id, arm_id, sha256, bytes, published_key, problem) VALUES (?, ?, ?, ?, ?, ?)",
      )
      .run(r.jobId, r.armId, r.sha256, r.bytes, r.publishedKey, r.problem);
  }

  /** The bundles of some jobs (all of them when no ids are given), by job then arm. */
  list(jobIds?: readonly string[]): EvidenceRow[] {
    const rows =
      jobIds === undefined
        ? (this.#db.prepare("SELECT * FROM evidence_bundles ORDER BY job_id, arm_id").all() as Row[])
        : jobIds.flatMap(
            (id) =>
              this.#db
                .prepare("SELECT * FROM evidence_bundles WHERE job_id = ? ORDER BY arm_id")
                .all(id) as Row[],
          );
    return rows.map((r) => ({
      jobId: String(r.job_id),
      armId: String(r.arm_id),
      sha256: String(r.sha256),
      bytes: Number(r.bytes),
      publishedKey: strOrNull(r.published_key),
      problem: String(r.problem),
    }));
  }
}
