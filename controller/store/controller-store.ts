import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { migrations as defaultMigrations, type Migration } from "./migrations.ts";

/** Lifecycle of a submission. "pending" ones are measured in the next round. */
export type SubmissionState =
  | "pending"
  | "evaluated"
  | "failed"
  | "copy"
  | "malformed"
  | "superseded"
  | "deregistered";

/** A submission as stored. */
export interface SubmissionRow {
  id: string;
  sequence: number;
  hotkey: string;
  uid: number | null;
  /** The commitment's text as read from the chain. */
  raw: string;
  /** Canonical image reference, null when malformed. */
  image: string | null;
  digest: string | null;
  commitBlock: number;
  seenBlock: number;
  state: SubmissionState;
  reason: string;
  copyOf: string | null;
  configDigest: string | null;
  layers: string[] | null;
  sizeBytes: number | null;
  createdAt: number;
  updatedAt: number;
}

/** Phases of a round, in order. */
export type RoundState = "evaluating" | "reproducing" | "settled";

export interface RoundRow {
  id: string;
  number: number;
  block: number;
  blockHash: string;
  seed: string;
  state: RoundState;
  deadlineMs: number;
  /** Submission ids measured in the round. */
  challengers: string[];
  standingBefore: unknown;
  standingAfter: unknown | null;
  createdAt: number;
  settledAt: number | null;
  publishedAt: number | null;
  publishLocation: string | null;
}

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

/** "intent" is written before the chain is asked; "confirmed" after reading the weights back. */
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
  createdAt: number;
  updatedAt: number;
}

export interface MinerReportRow {
  roundId: string;
  hotkey: string;
  submissionId: string;
  report: unknown;
}

/** Options of {@link openStore}. */
export interface OpenStoreOptions {
  /** SQLite file; its folder is created. ":memory:" for a throwaway store. */
  path: string;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
  /** Schema history. @default the controller's migrations */
  migrations?: readonly Migration[];
  /** Open without writing (operators' commands): no migrations are applied. @default false */
  readOnly?: boolean;
}

type Row = Record<string, SQLInputValue>;

/**
 * The controller's state and history in one SQLite file (WAL). Every state change goes through
 * {@link ControllerStore.transaction}, so a kill at any point leaves either the whole change or
 * none of it.
 */
export class ControllerStore {
  readonly db: DatabaseSync;
  readonly path: string;
  readonly now: () => number;
  #depth = 0;

  constructor(db: DatabaseSync, path: string, now: () => number) {
    this.db = db;
    this.path = path;
    this.now = now;
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  /**
   * Runs `fn` in one transaction (BEGIN IMMEDIATE, so writers queue instead of failing midway);
   * nested calls join the outer transaction. `fn` must be synchronous: nothing awaits inside.
   */
  transaction<T>(fn: () => T): T {
    if (this.#depth > 0) return fn();
    this.db.exec("BEGIN IMMEDIATE");
    this.#depth += 1;
    try {
      const result = fn();
      if (result instanceof Promise)
        throw new CacheonError("internal", "store transactions must be synchronous");
      this.db.exec("COMMIT");
      return result;
    } catch (error) {
      if (this.db.isTransaction) this.db.exec("ROLLBACK");
      throw error;
    } finally {
      this.#depth -= 1;
    }
  }

  /** The schema version applied. */
  schemaVersion(): number {
    const row = this.db.prepare("SELECT MAX(version) AS v FROM schema_version").get() as { v: number | null };
    return row.v ?? 0;
  }

  // ----- meta -----

  getMeta(key: string): string | undefined {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as
      | { value: string }
      | undefined;
    return row?.value;
  }

  /** Random id of this store (8 hex), created by a migration; prefixes job ids. */
  storeId(): string {
    const id = this.getMeta("store_id");
    if (!id) throw new CacheonError("internal", "the store has no store_id; its migrations did not run");
    return id;
  }

  setMeta(key: string, value: string): void {
    this.db
      .prepare(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      )
      .run(key, value);
  }

  // ----- submissions -----

  /** Inserts a submission; its id is "sub-<sequence>". */
  insertSubmission(s: {
    hotkey: string;
    uid: number | null;
    raw: string;
    image: string | null;
    digest: string | null;
    commitBlock: number;
    seenBlock: number;
    state: SubmissionState;
    reason?: string;
    copyOf?: string | null;
  }): SubmissionRow {
    const seqRow = this.db.prepare("SELECT COALESCE(MAX(sequence), 0) + 1 AS n FROM submissions").get() as {
      n: number;
    };
    const id = `sub-${seqRow.n}`;
    const t = this.now();
    this.db
      .prepare(
        `INSERT INTO submissions (id, sequence, hotkey, uid, raw, image, digest, commit_block, seen_block, state, reason, copy_of, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        id,
        seqRow.n,
        s.hotkey,
        s.uid,
        s.raw,
        s.image,
        s.digest,
        s.commitBlock,
        s.seenBlock,
        s.state,
        s.reason ?? "",
        s.copyOf ?? null,
        t,
        t,
      );
    return this.getSubmission(id) as SubmissionRow;
  }

  getSubmission(id: string): SubmissionRow | undefined {
    const row = this.db.prepare("SELECT * FROM submissions WHERE id = ?").get(id) as Row | undefined;
    return row ? submissionFromRow(row) : undefined;
  }

  /** Submissions in arrival order, optionally only some states or one hotkey. */
  listSubmissions(filter: { states?: readonly SubmissionState[]; hotkey?: string } = {}): SubmissionRow[] {
    const where: string[] = [];
    const args: SQLInputValue[] = [];
    if (filter.states) {
      where.push(`state IN (${filter.states.map(() => "?").join(", ") || "NULL"})`);
      args.push(...filter.states);
    }
    if (filter.hotkey !== undefined) {
      where.push("hotkey = ?");
      args.push(filter.hotkey);
    }
    const sql = `SELECT * FROM submissions ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY sequence`;
    return (this.db.prepare(sql).all(...args) as Row[]).map(submissionFromRow);
  }

  setSubmissionState(id: string, state: SubmissionState, reason: string, copyOf: string | null = null): void {
    const r = this.db
      .prepare("UPDATE submissions SET state = ?, reason = ?, copy_of = ?, updated_at = ? WHERE id = ?")
      .run(state, reason, copyOf, this.now(), id);
    if (r.changes !== 1) throw new CacheonError("not-found", `submission ${id} does not exist`);
  }

  setSubmissionUid(id: string, uid: number | null): void {
    this.db.prepare("UPDATE submissions SET uid = ?, updated_at = ? WHERE id = ?").run(uid, this.now(), id);
  }

  /** Records what the pull reported about the image (copy detection compares these). */
  setImageFacts(
    id: string,
    facts: { configDigest?: string; layers?: readonly string[]; sizeBytes?: number },
  ): void {
    this.db
      .prepare(
        "UPDATE submissions SET config_digest = COALESCE(?, config_digest), layers = COALESCE(?, layers), size_bytes = COALESCE(?, size_bytes), updated_at = ? WHERE id = ?",
      )
      .run(
        facts.configDigest || null,
        facts.layers && facts.layers.length > 0 ? JSON.stringify(facts.layers) : null,
        facts.sizeBytes ?? null,
        this.now(),
        id,
      );
  }

  /** The last commitment seen from a hotkey. */
  getCommitment(
    hotkey: string,
  ): { hotkey: string; raw: string; commitBlock: number; submissionId: string } | undefined {
    const row = this.db.prepare("SELECT * FROM commitments WHERE hotkey = ?").get(hotkey) as Row | undefined;
    return row
      ? {
          hotkey: String(row.hotkey),
          raw: String(row.raw),
          commitBlock: Number(row.commit_block),
          submissionId: String(row.submission_id),
        }
      : undefined;
  }

  listCommitments(): { hotkey: string; raw: string; commitBlock: number; submissionId: string }[] {
    return (this.db.prepare("SELECT * FROM commitments ORDER BY hotkey").all() as Row[]).map((row) => ({
      hotkey: String(row.hotkey),
      raw: String(row.raw),
      commitBlock: Number(row.commit_block),
      submissionId: String(row.submission_id),
    }));
  }

  putCommitment(c: { hotkey: string; raw: string; commitBlock: number; submissionId: string }): void {
    this.db
      .prepare(
        `INSERT INTO commitments (hotkey, raw, commit_block, submission_id, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (hotkey) DO UPDATE SET raw = excluded.raw, commit_block = excluded.commit_block, submission_id = excluded.submission_id, updated_at = excluded.updated_at`,
      )
      .run(c.hotkey, c.raw, c.commitBlock, c.submissionId, this.now());
  }

  deleteCommitment(hotkey: string): void {
    this.db.prepare("DELETE FROM commitments WHERE hotkey = ?").run(hotkey);
  }

  // ----- rounds -----

  insertRound(
    r: Omit<
      RoundRow,
      "id" | "number" | "createdAt" | "settledAt" | "publishedAt" | "publishLocation" | "standingAfter"
    >,
  ): RoundRow {
    const n = (this.db.prepare("SELECT COALESCE(MAX(number), 0) + 1 AS n FROM rounds").get() as { n: number })
      .n;
    const id = `round-${n}`;
    this.db
      .prepare(
        `INSERT INTO rounds (id, number, block, block_hash, seed, state, deadline_ms, challengers, standing_before, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        id,
        n,
        r.block,
        r.blockHash,
        r.seed,
        r.state,
        r.deadlineMs,
        JSON.stringify(r.challengers),
        JSON.stringify(r.standingBefore),
        this.now(),
      );
    return this.getRound(id) as RoundRow;
  }

  getRound(id: string): RoundRow | undefined {
    const row = this.db.prepare("SELECT * FROM rounds WHERE id = ?").get(id) as Row | undefined;
    return row ? roundFromRow(row) : undefined;
  }

  /** The round not yet settled, if any (there is at most one). */
  openRound(): RoundRow | undefined {
    const row = this.db
      .prepare("SELECT * FROM rounds WHERE state != 'settled' ORDER BY number DESC LIMIT 1")
      .get() as Row | undefined;
    return row ? roundFromRow(row) : undefined;
  }

  /** Rounds, newest first. */
  listRounds(limit = 50): RoundRow[] {
    return (this.db.prepare("SELECT * FROM rounds ORDER BY number DESC LIMIT ?").all(limit) as Row[]).map(
      roundFromRow,
    );
  }

  setRoundState(id: string, state: RoundState, standingAfter?: unknown): void {
    if (state === "settled") {
      this.db
        .prepare("UPDATE rounds SET state = ?, standing_after = ?, settled_at = ? WHERE id = ?")
        .run(state, JSON.stringify(standingAfter ?? null), this.now(), id);
    } else {
      this.db.prepare("UPDATE rounds SET state = ? WHERE id = ?").run(state, id);
    }
  }

  setRoundPublished(id: string, location: string): void {
    this.db
      .prepare("UPDATE rounds SET published_at = ?, publish_location = ? WHERE id = ?")
      .run(this.now(), location, id);
  }

  // ----- jobs -----

  insertJob(j: {
    id: string;
    roundId: string;
    phase: JobRow["phase"];
    slot: string;
    attempt: number;
    seed: string;
    job: unknown;
    excludedPods: string[];
  }): JobRow {
    this.db
      .prepare(
        `INSERT INTO jobs (id, round_id, phase, slot, attempt, seed, job, state, excluded_pods, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)`,
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
        this.now(),
      );
    return this.getJob(j.id) as JobRow;
  }

  getJob(id: string): JobRow | undefined {
    const row = this.db.prepare("SELECT * FROM jobs WHERE id = ?").get(id) as Row | undefined;
    return row ? jobFromRow(row) : undefined;
  }

  listJobs(roundId: string): JobRow[] {
    return (
      this.db
        .prepare("SELECT * FROM jobs WHERE round_id = ? ORDER BY created_at, slot, attempt")
        .all(roundId) as Row[]
    ).map(jobFromRow);
  }

  /** Jobs in a state across all rounds (e.g. "running" ones left by a stopped controller). */
  jobsInState(state: JobState): JobRow[] {
    return (
      this.db.prepare("SELECT * FROM jobs WHERE state = ? ORDER BY created_at").all(state) as Row[]
    ).map(jobFromRow);
  }

  markJobRunning(id: string, podId: string): void {
    const r = this.db
      .prepare(
        "UPDATE jobs SET state = 'running', pod_id = ?, started_at = ? WHERE id = ? AND state = 'queued'",
      )
      .run(podId, this.now(), id);
    if (r.changes !== 1)
      throw new CacheonError("failed-precondition", `job ${id} is not queued; it cannot start`);
  }

  finishJob(
    id: string,
    f: {
      state: Exclude<JobState, "queued" | "running">;
      decision?: string | null;
      reason: string;
      result?: unknown;
      score?: unknown;
    },
  ): void {
    this.db
      .prepare(
        "UPDATE jobs SET state = ?, decision = ?, reason = ?, result = ?, score = ?, finished_at = ? WHERE id = ?",
      )
      .run(
        f.state,
        f.decision ?? null,
        f.reason,
        f.result === undefined ? null : JSON.stringify(f.result),
        f.score === undefined ? null : JSON.stringify(f.score),
        this.now(),
        id,
      );
  }

  insertArmResult(a: ArmResultRow): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO arm_results (job_id, arm_id, role, submission_id, outcome, gate, speed, wall_s, wall_cv, reason)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(a.jobId, a.armId, a.role, a.submissionId, a.outcome, a.gate, a.speed, a.wallS, a.wallCv, a.reason);
  }

  listArmResults(jobId: string): ArmResultRow[] {
    return (
      this.db.prepare("SELECT * FROM arm_results WHERE job_id = ? ORDER BY arm_id").all(jobId) as Row[]
    ).map((r) => ({
      jobId: String(r.job_id),
      armId: String(r.arm_id),
      role: String(r.role),
      submissionId: String(r.submission_id),
      outcome: String(r.outcome),
      gate: r.gate === null ? null : String(r.gate),
      speed: numOrNull(r.speed),
      wallS: numOrNull(r.wall_s),
      wallCv: numOrNull(r.wall_cv),
      reason: String(r.reason),
    }));
  }

  // ----- verdicts, standings, reports -----

  insertVerdict(v: VerdictRow): void {
    this.db
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

  listVerdicts(filter: { roundId?: string; submissionId?: string }): VerdictRow[] {
    const where = filter.roundId !== undefined ? "round_id = ?" : "submission_id = ?";
    const arg = filter.roundId ?? filter.submissionId ?? "";
    return (
      this.db
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

  insertStanding(roundId: string | null, standing: unknown): void {
    this.db
      .prepare("INSERT INTO standings (round_id, standing, created_at) VALUES (?, ?, ?)")
      .run(roundId, JSON.stringify(standing), this.now());
  }

  /** The latest standing ({} before any). */
  currentStanding<T = unknown>(): T {
    const row = this.db.prepare("SELECT standing FROM standings ORDER BY id DESC LIMIT 1").get() as
      | { standing: string }
      | undefined;
    return (row ? JSON.parse(row.standing) : {}) as T;
  }

  putMinerReport(r: MinerReportRow): void {
    this.db
      .prepare(
        "INSERT OR REPLACE INTO miner_reports (round_id, hotkey, submission_id, report) VALUES (?, ?, ?, ?)",
      )
      .run(r.roundId, r.hotkey, r.submissionId, JSON.stringify(r.report));
  }

  listMinerReports(filter: { roundId?: string; hotkey?: string }): MinerReportRow[] {
    const where = filter.roundId !== undefined ? "m.round_id = ?" : "m.hotkey = ?";
    const arg = filter.roundId ?? filter.hotkey ?? "";
    return (
      this.db
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

  // ----- weights -----

  insertWeightIntent(w: {
    block: number;
    uids: number[];
    weights: number[];
    key: string;
    reason: string;
  }): WeightSettingRow {
    const t = this.now();
    const r = this.db
      .prepare(
        "INSERT INTO weight_settings (block, uids, weights, key, reason, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'intent', ?, ?)",
      )
      .run(w.block, JSON.stringify(w.uids), JSON.stringify(w.weights), w.key, w.reason, t, t);
    return this.getWeightSetting(Number(r.lastInsertRowid)) as WeightSettingRow;
  }

  updateWeightSetting(
    id: number,
    u: {
      state: WeightSettingState;
      txRef?: string | null;
      confirmedBlock?: number | null;
      error?: string | null;
    },
  ): void {
    this.db
      .prepare(
        "UPDATE weight_settings SET state = ?, tx_ref = COALESCE(?, tx_ref), confirmed_block = COALESCE(?, confirmed_block), error = ?, updated_at = ? WHERE id = ?",
      )
      .run(u.state, u.txRef ?? null, u.confirmedBlock ?? null, u.error ?? null, this.now(), id);
  }

  getWeightSetting(id: number): WeightSettingRow | undefined {
    const row = this.db.prepare("SELECT * FROM weight_settings WHERE id = ?").get(id) as Row | undefined;
    return row ? weightFromRow(row) : undefined;
  }

  /** Weight settings, newest first. */
  listWeightSettings(
    filter: { states?: readonly WeightSettingState[]; limit?: number } = {},
  ): WeightSettingRow[] {
    const states = filter.states ?? ["intent", "submitted", "confirmed", "failed"];
    return (
      this.db
        .prepare(
          `SELECT * FROM weight_settings WHERE state IN (${states.map(() => "?").join(", ")}) ORDER BY id DESC LIMIT ?`,
        )
        .all(...states, filter.limit ?? 1000) as Row[]
    ).map(weightFromRow);
  }
}

/** Opens (creating when missing) the store and applies pending migrations. */
export function openStore(options: OpenStoreOptions): ControllerStore {
  const { path } = options;
  const list = [...(options.migrations ?? defaultMigrations)].sort((a, b) => a.version - b.version);
  if (path !== ":memory:" && !options.readOnly) mkdirSync(dirname(path), { recursive: true });
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { readOnly: options.readOnly ?? false, timeout: 5000 });
  } catch (error) {
    throw new CacheonError(
      "unavailable",
      `cannot open the controller store ${path}: ${(error as Error).message}. Check the path (store.path) and its permissions${options.readOnly ? ", and that the controller has created it (run `cacheon-controller serve` once)" : ""}`,
      { cause: error },
    );
  }
  const store = new ControllerStore(db, path, options.now ?? Date.now);
  try {
    if (options.readOnly) {
      db.exec("PRAGMA query_only = ON");
      const known = list.at(-1)?.version ?? 0;
      const version = store.schemaVersion();
      if (version > known) throw newerSchema(path, version, known);
      return store;
    }
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = FULL");
    db.exec("PRAGMA foreign_keys = ON");
    db.exec(
      "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    );
    const current = store.schemaVersion();
    const known = list.at(-1)?.version ?? 0;
    if (current > known) throw newerSchema(path, current, known);
    for (const m of list) {
      if (m.version <= current) continue;
      store.transaction(() => {
        db.exec(m.sql);
        db.prepare("INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)").run(
          m.version,
          m.name,
          store.now(),
        );
      });
    }
  } catch (error) {
    store.close();
    if (error instanceof CacheonError) throw error;
    throw new CacheonError(
      "unavailable",
      `cannot prepare the controller store ${path}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return store;
}

function newerSchema(path: string, version: number, known: number): CacheonError {
  return new CacheonError(
    "failed-precondition",
    `the store ${path} has schema version ${version}, newer than this controller knows (${known}); run the newer controller or restore a backup`,
  );
}

function numOrNull(v: SQLInputValue | undefined): number | null {
  return v === null || v === undefined ? null : Number(v);
}

function jsonOrNull<T>(v: SQLInputValue | undefined): T | null {
  return v === null || v === undefined ? null : (JSON.parse(String(v)) as T);
}

function submissionFromRow(r: Row): SubmissionRow {
  return {
    id: String(r.id),
    sequence: Number(r.sequence),
    hotkey: String(r.hotkey),
    uid: numOrNull(r.uid),
    raw: String(r.raw),
    image: r.image === null ? null : String(r.image),
    digest: r.digest === null ? null : String(r.digest),
    commitBlock: Number(r.commit_block),
    seenBlock: Number(r.seen_block),
    state: String(r.state) as SubmissionState,
    reason: String(r.reason),
    copyOf: r.copy_of === null ? null : String(r.copy_of),
    configDigest: r.config_digest === null ? null : String(r.config_digest),
    layers: jsonOrNull<string[]>(r.layers),
    sizeBytes: numOrNull(r.size_bytes),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function roundFromRow(r: Row): RoundRow {
  return {
    id: String(r.id),
    number: Number(r.number),
    block: Number(r.block),
    blockHash: String(r.block_hash),
    seed: String(r.seed),
    state: String(r.state) as RoundState,
    deadlineMs: Number(r.deadline_ms),
    challengers: JSON.parse(String(r.challengers)) as string[],
    standingBefore: JSON.parse(String(r.standing_before)),
    standingAfter: jsonOrNull(r.standing_after),
    createdAt: Number(r.created_at),
    settledAt: numOrNull(r.settled_at),
    publishedAt: numOrNull(r.published_at),
    publishLocation: r.publish_location === null ? null : String(r.publish_location),
  };
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
    podId: r.pod_id === null ? null : String(r.pod_id),
    excludedPods: JSON.parse(String(r.excluded_pods)) as string[],
    decision: r.decision === null ? null : String(r.decision),
    reason: String(r.reason),
    result: jsonOrNull(r.result),
    score: jsonOrNull(r.score),
    createdAt: Number(r.created_at),
    startedAt: numOrNull(r.started_at),
    finishedAt: numOrNull(r.finished_at),
  };
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
    txRef: r.tx_ref === null ? null : String(r.tx_ref),
    confirmedBlock: numOrNull(r.confirmed_block),
    error: r.error === null ? null : String(r.error),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}
