import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type AgentEvent, AgentEventSchema } from "../../shared/gen/cacheon/v1/agent_service_pb.ts";

/** A job the agent was running, as recorded when it started. */
export interface RunningJobRecord {
  jobId: string;
  startedAtMs: number;
}

/**
 * What an agent keeps across restarts, beside its credential: its unacknowledged events and the
 * sequence they continue (so a restarted agent neither reuses sequence numbers the controller
 * has stored, which it would drop as duplicates, nor loses events it had not delivered), the last
 * controller message it processed, the job it was running (reported as interrupted after a
 * crash), and the images it pulled and has not removed yet. One SQLite file; every write is
 * committed before the call returns, so a `kill -9` loses nothing that was reported as written.
 */
export class AgentStateStore {
  readonly #db: DatabaseSync;
  readonly path: string;

  private constructor(db: DatabaseSync, path: string) {
    this.#db = db;
    this.path = path;
  }

  /** Opens (creating when missing) the state at `path`; ":memory:" for tests. */
  static open(path: string): AgentStateStore {
    let db: DatabaseSync;
    try {
      if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
      db = new DatabaseSync(path);
      db.exec("PRAGMA journal_mode = WAL");
      // NORMAL in WAL mode survives a killed process (only a power cut may lose the last commits).
      db.exec("PRAGMA synchronous = NORMAL");
      db.exec(`CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, event BLOB NOT NULL);
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS pulled_images (id TEXT PRIMARY KEY, job_id TEXT NOT NULL);`);
    } catch (error) {
      throw new CacheonError(
        "invalid-config",
        `cannot open the agent's state ${path}: ${(error as Error).message}; check the directory is writable (or delete a corrupt file: the agent then starts a new sequence)`,
        { cause: error },
      );
    }
    return new AgentStateStore(db, path);
  }

  close(): void {
    this.#db.close();
  }

  /** Unacknowledged events in seq order, and the seq the next event gets. */
  loadOutbox(): { events: AgentEvent[]; nextSeq: number } {
    const rows = this.#db.prepare("SELECT event FROM outbox ORDER BY seq").all() as Array<{
      event: Uint8Array;
    }>;
    const events = rows.map((r) => fromBinary(AgentEventSchema, r.event));
    const stored = Number(this.#meta("next_seq") ?? "1");
    const after = events.length > 0 ? Number(events.at(-1)?.seq) + 1 : 1;
    return { events, nextSeq: Math.max(stored, after) };
  }

  /** Stores a new event and the seq after it, in one commit. */
  appendEvent(event: AgentEvent): void {
    this.#transaction(() => {
      this.#db
        .prepare("INSERT INTO outbox (seq, event) VALUES (?, ?)")
        .run(Number(event.seq), toBinary(AgentEventSchema, event));
      this.#setMeta("next_seq", String(Number(event.seq) + 1));
    });
  }

  /** Forgets every event up to and including `seq` (the controller stored them). */
  ackEvents(seq: number): void {
    this.#db.prepare("DELETE FROM outbox WHERE seq <= ?").run(seq);
  }

  /** Highest controller sequence number processed; 0 for none. */
  lastControllerSeq(): number {
    return Number(this.#meta("last_controller_seq") ?? "0");
  }

  setLastControllerSeq(seq: number): void {
    this.#setMeta("last_controller_seq", String(seq));
  }

  /** The job the agent was running when it stopped, if it did not finish. */
  runningJob(): RunningJobRecord | undefined {
    const raw = this.#meta("running_job");
    return raw ? (JSON.parse(raw) as RunningJobRecord) : undefined;
  }

  setRunningJob(job: RunningJobRecord | undefined): void {
    if (job) this.#setMeta("running_job", JSON.stringify(job));
    else this.#db.prepare("DELETE FROM meta WHERE key = 'running_job'").run();
  }

  /** Records an image a job pulled (removed at the job's end, or by the next start after a crash). */
  imagePulled(id: string, jobId: string): void {
    this.#db.prepare("INSERT OR REPLACE INTO pulled_images (id, job_id) VALUES (?, ?)").run(id, jobId);
  }

  imageRemoved(id: string): void {
    this.#db.prepare("DELETE FROM pulled_images WHERE id = ?").run(id);
  }

  /** Images pulled and not removed. */
  pulledImages(): string[] {
    return (this.#db.prepare("SELECT id FROM pulled_images ORDER BY id").all() as Array<{ id: string }>).map(
      (r) => r.id,
    );
  }

  #meta(key: string): string | undefined {
    const row = this.#db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as
      | { value: string }
      | undefined;
    return row?.value;
  }

  #setMeta(key: string, value: string): void {
    this.#db
      .prepare(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      )
      .run(key, value);
  }

  #transaction(work: () => void): void {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      work();
      this.#db.exec("COMMIT");
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw error;
    }
  }
}
