import type { DatabaseSync } from "node:sqlite";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { jsonOrNull, numOrNull, type Row, strOrNull } from "./row-values.ts";

/** Lifecycle of one job attempt. "lost": it was running when the controller stopped, or its pod vanished. */
export type JobState = "queued" | "running" | "done" | "failed" | "lost" | "abandoned";

export interface JobRow {
  id: string;
  roundId: string;
  phase: "evaluate" | "reproduce";
  /** The planned job this attempt belongs to; retries share it. */
  slot: string;
  attempt: number;
  seed: string;
  /** The EvaluationJob in protobuf JSON form. */
  job: unknown;
  state: JobState;
  podId: string | null;
  excludedPods: string[];
  /**
   * Pods whose host, GPUs (and provider, when several are configured) the job must not share:
   * those that measured its challengers before. [] for jobs without the rule.
   */
  independentOf: string[];
  /** JobScore.decision once scored. */
  decision: string | null;
  reason: string;
  /** The JobResult in protobuf JSON form. */
  result: unknown | null;
  score: unknown | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

/** The `jobs` table: one row per attempt of a planned job, never updated away. */
export class JobTable {
  readonly #db: DatabaseSync;
  readonly #now: () => number;

  constructor(db: DatabaseSync, now: () => number) {
    this.#db = db;
    this.#now = now;
  }

  insert(j: {
    id: string;
    roundId: string;
    phase: JobRow["phase"];
    slot: string;
    attempt: number;
    seed: string;
    job: unknown;
    excludedPods: string[];
    /** @default [] */
    independentOf?: string[];
  }): JobRow {
    this.#db
      .prepare(
        `INSERT INTO jobs (id, round_id, phase, slot, attempt, seed, job, state, excluded_pods, independent_of, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)`,
      )
      .run(
        j.id,
        j.roundId,
        j.phase,
        j.slot,
        j.attempt,
        j.seed,
        JSON.stringify(j.job),
        JSON.stringify(j.excludedPods),
        JSON.stringify(j.independentOf ?? []),
        this.#now(),
      );
    return this.get(j.id) as JobRow;
  }

  get(id: string): JobRow | undefined {
    const row = this.#db.prepare("SELECT * FROM jobs WHERE id = ?").get(id) as Row | undefined;
    return row ? jobFromRow(row) : undefined;
  }

  /** A round's job attempts in the order they were created. */
  list(roundId: string): JobRow[] {
    return (
      this.#db
        .prepare("SELECT * FROM jobs WHERE round_id = ? ORDER BY created_at, slot, attempt")
        .all(roundId) as Row[]
    ).map(jobFromRow);
  }

  markRunning(id: string, podId: string): void {
    const r = this.#db
      .prepare(
        "UPDATE jobs SET state = 'running', pod_id = ?, started_at = ? WHERE id = ? AND state = 'queued'",
      )
      .run(podId, this.#now(), id);
    if (r.changes !== 1)
      throw new CacheonError("failed-precondition", `job ${id} is not queued; it cannot start`);
  }

  finish(
    id: string,
    f: {
      state: Exclude<JobState, "queued" | "running">;
      decision?: string | null;
      reason: string;
      result?: unknown;
      score?: unknown;
    },
  ): void {
    this.#db
      .prepare(
        "UPDATE jobs SET state = ?, decision = ?, reason = ?, result = ?, score = ?, finished_at = ? WHERE id = ?",
      )
      .run(
        f.state,
        f.decision ?? null,
        f.reason,
        f.result === undefined ? null : JSON.stringify(f.result),
        f.score === undefined ? null : JSON.stringify(f.score),
        this.#now(),
        id,
      );
  }

  /** Gives an attempt up, keeping whatever it recorded (decision, result, score). */
  abandon(id: string, reason: string): void {
    this.#db
      .prepare("UPDATE jobs SET state = 'abandoned', reason = ?, finished_at = ? WHERE id = ?")
      .run(reason, this.#now(), id);
  }
}

function jobFromRow(r: Row): JobRow {
  return {
    id: String(r.id),
    roundId: String(r.round_id),
    phase: String(r.phase) as JobRow["phase"],
    slot: String(r.slot),
    attempt: Number(r.attempt),
    seed: String(r.seed),
    job: JSON.parse(String(r.job)),
    state: String(r.state) as JobState,
    podId: strOrNull(r.pod_id),
    excludedPods: JSON.parse(String(r.excluded_pods)) as string[],
    independentOf: JSON.parse(String(r.independent_of)) as string[],
    decision: strOrNull(r.decision),
    reason: String(r.reason),
    result: jsonOrNull(r.result),
    score: jsonOrNull(r.score),
    createdAt: Number(r.created_at),
    startedAt: numOrNull(r.started_at),
    finishedAt: numOrNull(r.finished_at),
  };
}
