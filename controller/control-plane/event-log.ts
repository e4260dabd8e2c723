import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";

/** One stored agent event. */
export interface EventRow {
  agentId: string;
  seq: number;
  atMs: number;
  receivedAtMs: number;
  /** The payload case, e.g. "progress". */
  kind: string;
  jobId: string;
  /** The AgentEvent, protobuf binary (unknown fields already dropped). */
  event: Uint8Array;
}

/** What a retention pass removed. */
export interface PruneReport {
  /** Events older than the retention. */
  expired: number;
  /** Events removed, oldest first, to bring the log under its size cap. */
  overCap: number;
}

/**
 * The agents' event log: what agents send, kept apart from the controller's store so that
 * nothing an agent sends can fill the disk that holds rounds and weights. Sequence numbers are
 * tracked per agent even for events that were accepted but not stored (over quota) or pruned,
 * so retention never makes a resend look new.
 */
export interface AgentEventLog {
  /** Highest seq accepted from an agent (stored, dropped over quota, or since pruned), 0 for none. */
  lastSeq(agentId: string): number;
  /** Stores an event once; false when (agent, seq) was stored before. */
  append(row: EventRow): boolean;
  /** Accepts an event without storing it (over quota): only its seq is kept. */
  skip(agentId: string, seq: number): void;
  /**
   * What append and skip do, for many events in one transaction (one commit instead of one per
   * event): all are stored or, when it throws, none. `skipped` maps an agent to the highest seq
   * it had accepted without storing. Returns how many rows were new.
   */
  appendBatch(rows: readonly EventRow[], skipped?: ReadonlyMap<string, number>): number;
  /** Stored events of an agent in seq order, optionally of one job. */
  events(agentId: string, jobId?: string): EventRow[];
  /** Bytes of an agent's stored events. */
  storedBytes(agentId: string): number;
  /** Bytes of every stored event. */
  totalBytes(): number;
  /**
   * Deletes events received before `olderThanMs`, then the oldest ones until the log holds at
   * most `maxBytes`.
   */
  prune(options: { olderThanMs: number; maxBytes: number }): PruneReport;
  close(): void;
}

/** Options of {@link SqliteEventLog}. */
export interface SqliteEventLogOptions {
  /** SQLite file of its own (not the controller's store), or ":memory:". @default ":memory:" */
  path?: string;
}

const schema = `
CREATE TABLE IF NOT EXISTS events (
  agent_id TEXT NOT NULL, seq INTEGER NOT NULL, at_ms INTEGER NOT NULL, received_at_ms INTEGER NOT NULL,
  kind TEXT NOT NULL, job_id TEXT NOT NULL, bytes INTEGER NOT NULL, event BLOB NOT NULL,
  PRIMARY KEY (agent_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_received ON events (received_at_ms);
CREATE TABLE IF NOT EXISTS cursors (agent_id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL) WITHOUT ROWID;
`;

/** The event log in its own SQLite file (WAL, synchronous NORMAL: a lost tail is resent by the agents). */
export class SqliteEventLog implements AgentEventLog {
  readonly #db: DatabaseSync;
  readonly #s: Record<
    | "last"
    | "cursor"
    | "insert"
    | "skip"
    | "events"
    | "eventsOfJob"
    | "bytesOf"
    | "total"
    | "keepCursors"
    | "expire"
    | "oldest"
    | "deleteUpTo",
    StatementSync
  >;
  /** Bytes per agent, loaded on first use and kept current (pruning resets it). */
  readonly #bytes = new Map<string, number>();
  #total: number | undefined;

  constructor(options: SqliteEventLogOptions = {}) {
    const path = options.path ?? ":memory:";
    try {
      if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
      this.#db = new DatabaseSync(path, { timeout: 5000 });
      this.#db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
      this.#db.exec(schema);
    } catch (error) {
      throw new CacheonError(
        "invalid-config",
        `cannot open the agents' event log ${path}: ${(error as Error).message}; check controlPlane.eventsPath and its permissions`,
        { cause: error },
      );
    }
    const p = (sql: string) => this.#db.prepare(sql);
    this.#s = {
      last: p("SELECT COALESCE(MAX(seq), 0) AS seq FROM events WHERE agent_id = ?"),
      cursor: p("SELECT last_seq FROM cursors WHERE agent_id = ?"),
      insert: p(
        "INSERT OR IGNORE INTO events (agent_id, seq, at_ms, received_at_ms, kind, job_id, bytes, event) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      ),
      skip: p(
        "INSERT INTO cursors (agent_id, last_seq) VALUES (?, ?) ON CONFLICT (agent_id) DO UPDATE SET last_seq = MAX(last_seq, excluded.last_seq)",
      ),
      events: p("SELECT * FROM events WHERE agent_id = ? ORDER BY seq"),
      eventsOfJob: p("SELECT * FROM events WHERE agent_id = ? AND job_id = ? ORDER BY seq"),
      bytesOf: p("SELECT COALESCE(SUM(bytes), 0) AS bytes FROM events WHERE agent_id = ?"),
      total: p("SELECT COALESCE(SUM(bytes), 0) AS bytes FROM events"),
      keepCursors: p(
        `INSERT INTO cursors (agent_id, last_seq) SELECT agent_id, MAX(seq) FROM events WHERE received_at_ms <= ? GROUP BY agent_id
         ON CONFLICT (agent_id) DO UPDATE SET last_seq = MAX(last_seq, excluded.last_seq)`,
      ),
      expire: p("DELETE FROM events WHERE received_at_ms < ?"),
      // The received-at time by which the oldest events add up to at least the given bytes.
      oldest: p(
        `SELECT received_at_ms FROM (
           SELECT received_at_ms, SUM(bytes) OVER (ORDER BY received_at_ms ROWS UNBOUNDED PRECEDING) AS running FROM events
         ) WHERE running >= ? ORDER BY received_at_ms LIMIT 1`,
      ),
      deleteUpTo: p("DELETE FROM events WHERE received_at_ms <= ?"),
    };
  }

  lastSeq(agentId: string): number {
    const stored = Number((this.#s.last.get(agentId) as { seq: number }).seq);
    const cursor = this.#s.cursor.get(agentId) as { last_seq: number } | undefined;
    return Math.max(stored, Number(cursor?.last_seq ?? 0));
  }

  append(row: EventRow): boolean {
    return this.#insert(row);
  }

  appendBatch(rows: readonly EventRow[], skipped: ReadonlyMap<string, number> = new Map()): number {
    let stored = 0;
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      for (const row of rows) if (this.#insert(row)) stored += 1;
      for (const [agentId, seq] of skipped) this.#s.skip.run(agentId, seq);
      this.#db.exec("COMMIT");
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      // The byte counts may include rows that were rolled back: read them again when next asked.
      this.#bytes.clear();
      this.#total = undefined;
      throw error;
    }
    return stored;
  }

  #insert(row: EventRow): boolean {
    const bytes = row.event.byteLength;
    // Loaded before the insert, so the new row is counted once.
    const before = this.storedBytes(row.agentId);
    const total = this.totalBytes();
    const result = this.#s.insert.run(
      row.agentId,
      row.seq,
      row.atMs,
      row.receivedAtMs,
      row.kind,
      row.jobId,
      bytes,
      row.event,
    );
    const stored = Number(result.changes) === 1;
    if (stored) {
      this.#bytes.set(row.agentId, before + bytes);
      this.#total = total + bytes;
    }
    return stored;
  }

  skip(agentId: string, seq: number): void {
    this.#s.skip.run(agentId, seq);
  }

  events(agentId: string, jobId?: string): EventRow[] {
    const rows = jobId === undefined ? this.#s.events.all(agentId) : this.#s.eventsOfJob.all(agentId, jobId);
    return rows.map((r) => ({
      agentId: String(r.agent_id),
      seq: Number(r.seq),
      atMs: Number(r.at_ms),
      receivedAtMs: Number(r.received_at_ms),
      kind: String(r.kind),
      jobId: String(r.job_id),
      event: r.event as Uint8Array,
    }));
  }

  storedBytes(agentId: string): number {
    let bytes = this.#bytes.get(agentId);
    if (bytes === undefined) {
      bytes = Number((this.#s.bytesOf.get(agentId) as { bytes: number }).bytes);
      this.#bytes.set(agentId, bytes);
    }
    return bytes;
  }

  totalBytes(): number {
    this.#total ??= Number((this.#s.total.get() as { bytes: number }).bytes);
    return this.#total;
  }

  prune(options: { olderThanMs: number; maxBytes: number }): PruneReport {
    const report: PruneReport = { expired: 0, overCap: 0 };
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      // Cursors first: a pruned agent's next event must still follow its last one.
      this.#s.keepCursors.run(options.olderThanMs);
      report.expired = Number(this.#s.expire.run(options.olderThanMs).changes);
      const total = Number((this.#s.total.get() as { bytes: number }).bytes);
      if (total > options.maxBytes) {
        // The oldest events whose bytes add up to the excess go, whole received-at instants at a time.
        const row = this.#s.oldest.get(total - options.maxBytes) as { received_at_ms: number } | undefined;
        if (row) {
          this.#s.keepCursors.run(row.received_at_ms);
          report.overCap = Number(this.#s.deleteUpTo.run(row.received_at_ms).changes);
        }
      }
      this.#db.exec("COMMIT");
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw error;
    }
    this.#bytes.clear();
    this.#total = undefined;
    return report;
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}
