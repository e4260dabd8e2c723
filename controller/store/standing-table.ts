import type { DatabaseSync } from "node:sqlite";

/** The `standings` table: append-only, the latest row is the current standing. */
export class StandingTable {
  readonly #db: DatabaseSync;
  readonly #now: () => number;

  constructor(db: DatabaseSync, now: () => number) {
    this.#db = db;
    this.#now = now;
  }

  /** Appends a standing (round null: set outside a round, e.g. by intake). */
  append(roundId: string | null, standing: unknown): void {
    this.#db
      .prepare("INSERT INTO standings (round_id, standing, created_at) VALUES (?, ?, ?)")
      .run(roundId, JSON.stringify(standing), this.#now());
  }

  /** The latest standing ({} before any). */
  current<T = unknown>(): T {
    const row = this.#db.prepare("SELECT standing FROM standings ORDER BY id DESC LIMIT 1").get() as
      | { standing: string }
      | undefined;
    return (row ? JSON.parse(row.standing) : {}) as T;
  }
}
