import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { jsonOrNull, numOrNull, type Row, strOrNull } from "./row-values.ts";

/** Lifecycle of a submission. "pending" ones are measured in the next round. */
export type SubmissionState =
  | "pending"
  | "evaluated"
  | "failed"
  | "copy"
  | "malformed"
  | "superseded"
  | "deregistered"
  /** The submission fee was not paid (or not verifiably): never evaluated, never owns content. */
  | "unpaid";

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
  /** Block its content became public (a timelocked commitment's reveal); decides who owns it. */
  priorityBlock: number;
  /** Index of its commitment (or reveal) event in that block; null when unknown. */
  priorityIndex: number | null;
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

/** The `submissions` table: every commitment read, one row each, with its lifecycle. */
export class SubmissionTable {
  readonly #db: DatabaseSync;
  readonly #now: () => number;

  constructor(db: DatabaseSync, now: () => number) {
    this.#db = db;
    this.#now = now;
  }

  /** Inserts a submission; its id is "sub-<sequence>". */
  insert(s: {
    hotkey: string;
    uid: number | null;
    raw: string;
    image: string | null;
    digest: string | null;
    commitBlock: number;
    /** @default commitBlock */
    priorityBlock?: number;
    /** @default null (unknown) */
    priorityIndex?: number | null;
    seenBlock: number;
    state: SubmissionState;
    reason?: string;
    copyOf?: string | null;
  }): SubmissionRow {
    const seqRow = this.#db.prepare("SELECT COALESCE(MAX(sequence), 0) + 1 AS n FROM submissions").get() as {
      n: number;
    };
    const id = `sub-${seqRow.n}`;
    const t = this.#now();
    this.#db
      .prepare(
        `INSERT INTO submissions (id, sequence, hotkey, uid, raw, image, digest, commit_block, priority_block, priority_index, seen_block, state, reason, copy_of, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
        s.priorityBlock ?? s.commitBlock,
        s.priorityIndex ?? null,
        s.seenBlock,
        s.state,
        s.reason ?? "",
        s.copyOf ?? null,
        t,
        t,
      );
    return this.get(id) as SubmissionRow;
  }

  get(id: string): SubmissionRow | undefined {
    const row = this.#db.prepare("SELECT * FROM submissions WHERE id = ?").get(id) as Row | undefined;
    return row ? submissionFromRow(row) : undefined;
  }

  /** Submissions in arrival order, optionally only some states or one hotkey. */
  list(filter: { states?: readonly SubmissionState[]; hotkey?: string } = {}): SubmissionRow[] {
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
    return (this.#db.prepare(sql).all(...args) as Row[]).map(submissionFromRow);
  }

  setState(id: string, state: SubmissionState, reason: string, copyOf: string | null = null): void {
    const r = this.#db
      .prepare("UPDATE submissions SET state = ?, reason = ?, copy_of = ?, updated_at = ? WHERE id = ?")
      .run(state, reason, copyOf, this.#now(), id);
    if (r.changes !== 1) throw new CacheonError("not-found", `submission ${id} does not exist`);
  }

  /**
   * A hotkey re-committed the same digest (perhaps under another repository or tag): the
   * submission, its state and its priority stay; only where the image is read from changes.
   */
  setRecommitted(id: string, raw: string, image: string, seenBlock: number): void {
    this.#db
      .prepare("UPDATE submissions SET raw = ?, image = ?, seen_block = ?, updated_at = ? WHERE id = ?")
      .run(raw, image, seenBlock, this.#now(), id);
  }

  setUid(id: string, uid: number | null): void {
    this.#db.prepare("UPDATE submissions SET uid = ?, updated_at = ? WHERE id = ?").run(uid, this.#now(), id);
  }

  /** Records what the pull reported about the image (copy detection compares these). */
  setImageFacts(
    id: string,
    facts: { configDigest?: string; layers?: readonly string[]; sizeBytes?: number },
  ): void {
    this.#db
      .prepare(
        "UPDATE submissions SET config_digest = COALESCE(?, config_digest), layers = COALESCE(?, layers), size_bytes = COALESCE(?, size_bytes), updated_at = ? WHERE id = ?",
      )
      .run(
        facts.configDigest || null,
        facts.layers && facts.layers.length > 0 ? JSON.stringify(facts.layers) : null,
        facts.sizeBytes ?? null,
        this.#now(),
        id,
      );
  }
}

function submissionFromRow(r: Row): SubmissionRow {
  return {
    id: String(r.id),
    sequence: Number(r.sequence),
    hotkey: String(r.hotkey),
    uid: numOrNull(r.uid),
    raw: String(r.raw),
    image: strOrNull(r.image),
    digest: strOrNull(r.digest),
    commitBlock: Number(r.commit_block),
    priorityBlock: numOrNull(r.priority_block) ?? Number(r.commit_block),
    priorityIndex: numOrNull(r.priority_index),
    seenBlock: Number(r.seen_block),
    state: String(r.state) as SubmissionState,
    reason: String(r.reason),
    copyOf: strOrNull(r.copy_of),
    configDigest: strOrNull(r.config_digest),
    layers: jsonOrNull<string[]>(r.layers),
    sizeBytes: numOrNull(r.size_bytes),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}
