import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { ArmResultTable } from "./arm-result-table.ts";
import { ChainCursorTable } from "./chain-cursor-table.ts";
import { CommitmentTable } from "./commitment-table.ts";
import { EvidenceTable } from "./evidence-table.ts";
import { FeeLedgerTable } from "./fee-ledger-table.ts";
import { JobTable } from "./job-table.ts";
import { migrations as defaultMigrations, type Migration } from "./migrations.ts";
import { MinerReportTable } from "./miner-report-table.ts";
import { RoundTable } from "./round-table.ts";
import { StandingTable } from "./standing-table.ts";
import { acquireStoreLock, type StoreLock, type StoreLockOptions } from "./store-lock.ts";
import { SubmissionTable } from "./submission-table.ts";
import { VerdictTable } from "./verdict-table.ts";
import { WeightCommitTable } from "./weight-commit-table.ts";
import { WeightSettingTable } from "./weight-setting-table.ts";

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
  /**
   * Take the store's single-writer lock before anything is written (serve, demo): a second
   * writer is refused naming the holder, and every transaction checks the lock is still held.
   * Ignored for ":memory:" and read-only stores. @default no lock
   */
  lock?: StoreLockOptions;
}

/**
 * The controller's state and history in one SQLite file (WAL), one table object per concern
 * (`store.submissions`, `store.jobs`, ...). Every state change goes through
 * {@link ControllerStore.transaction}, so a kill at any point leaves either the whole change or
 * none of it.
 */
export class ControllerStore {
  readonly db: DatabaseSync;
  readonly path: string;
  readonly now: () => number;
  readonly submissions: SubmissionTable;
  readonly commitments: CommitmentTable;
  readonly rounds: RoundTable;
  readonly jobs: JobTable;
  readonly armResults: ArmResultTable;
  readonly verdicts: VerdictTable;
  readonly standings: StandingTable;
  readonly minerReports: MinerReportTable;
  readonly evidence: EvidenceTable;
  readonly weightSettings: WeightSettingTable;
  readonly feeLedger: FeeLedgerTable;
  /** The single-writer lock, when the store was opened with one. */
  lock: StoreLock | undefined;
  readonly weightCommits: WeightCommitTable;
  readonly chainCursors: ChainCursorTable;
  #depth = 0;

  constructor(db: DatabaseSync, path: string, now: () => number) {
    this.db = db;
    this.path = path;
    this.now = now;
    this.submissions = new SubmissionTable(db, now);
    this.commitments = new CommitmentTable(db, now);
    this.rounds = new RoundTable(db, now);
    this.jobs = new JobTable(db, now);
    this.armResults = new ArmResultTable(db);
    this.verdicts = new VerdictTable(db);
    this.standings = new StandingTable(db, now);
    this.minerReports = new MinerReportTable(db);
    this.evidence = new EvidenceTable(db);
    this.weightSettings = new WeightSettingTable(db, now);
    this.feeLedger = new FeeLedgerTable(db, now);
    this.weightCommits = new WeightCommitTable(db, now);
    this.chainCursors = new ChainCursorTable(db, now);
  }

  close(): void {
    this.lock?.release();
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
      // Inside the transaction: a controller presumed dead and taken over writes nothing more.
      this.lock?.assertHeld();
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
    // Before the migrations: a second controller must not even migrate a store in use.
    if (options.lock && path !== ":memory:") store.lock = acquireStoreLock(db, path, options.lock);
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
