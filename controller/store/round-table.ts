import type { DatabaseSync } from "node:sqlite";
import { jsonOrNull, numOrNull, type Row, strOrNull } from "./row-values.ts";

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

/** The `rounds` table: one row per round, numbered from 1 in each store. */
export class RoundTable {
  readonly #db: DatabaseSync;
  readonly #now: () => number;

  constructor(db: DatabaseSync, now: () => number) {
    this.#db = db;
    this.#now = now;
  }

  /** Inserts the next round; its id is "round-<number>". */
  insert(
    r: Omit<
      RoundRow,
      "id" | "number" | "createdAt" | "settledAt" | "publishedAt" | "publishLocation" | "standingAfter"
    >,
  ): RoundRow {
    const n = (
      this.#db.prepare("SELECT COALESCE(MAX(number), 0) + 1 AS n FROM rounds").get() as { n: number }
    ).n;
    const id = `round-${n}`;
    this.#db
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
        this.#now(),
      );
    return this.get(id) as RoundRow;
  }

  get(id: string): RoundRow | undefined {
    const row = this.#db.prepare("SELECT * FROM rounds WHERE id = ?").get(id) as Row | undefined;
    return row ? roundFromRow(row) : undefined;
  }

  /** The round not yet settled, if any (there is at most one). */
  open(): RoundRow | undefined {
    const row = this.#db
      .prepare("SELECT * FROM rounds WHERE state != 'settled' ORDER BY number DESC LIMIT 1")
      .get() as Row | undefined;
    return row ? roundFromRow(row) : undefined;
  }

  /** Rounds, newest first. */
  list(limit = 50): RoundRow[] {
    return (this.#db.prepare("SELECT * FROM rounds ORDER BY number DESC LIMIT ?").all(limit) as Row[]).map(
      roundFromRow,
    );
  }

  setState(id: string, state: RoundState, standingAfter?: unknown): void {
    if (state === "settled") {
      this.#db
        .prepare("UPDATE rounds SET state = ?, standing_after = ?, settled_at = ? WHERE id = ?")
        .run(state, JSON.stringify(standingAfter ?? null), this.#now(), id);
    } else {
      this.#db.prepare("UPDATE rounds SET state = ? WHERE id = ?").run(state, id);
    }
  }

  setPublished(id: string, location: string): void {
    this.#db
      .prepare("UPDATE rounds SET published_at = ?, publish_location = ? WHERE id = ?")
      .run(this.#now(), location, id);
  }
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
    publishLocation: strOrNull(r.publish_location),
  };
}
