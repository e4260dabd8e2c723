import type { DatabaseSync } from "node:sqlite";
import { jsonOrNull, numOrNull, type Row, strOrNull } from "./row-values.ts";

/** How weights are committed: drand-timelocked (CRv4) or the blake2 hash commit-reveal. */
export type WeightCommitMode = "timelock" | "hash";

/**
 * Lifecycle of one commit. "prepared": written (salt / ciphertext and all) before the commit is
 * submitted, so a kill right after submitting loses nothing; "committed": seen in the chain's
 * queue; "revealing" (hash mode): our reveal was submitted; "confirmed": the weights were read
 * back; "expired": the commit left the chain's queue without the weights being set (pulse
 * missing, dropped, window missed): the weights go through a fresh commit; "failed": refused.
 */
export type WeightCommitState = "prepared" | "committed" | "revealing" | "confirmed" | "expired" | "failed";

export interface WeightCommitRow {
  id: number;
  /** The weight_settings intent this commit carries out. */
  settingId: number;
  mode: WeightCommitMode;
  netuid: number;
  hotkey: string;
  uids: number[];
  /** u16 values as committed. */
  values: number[];
  versionKey: bigint;
  /** Hash mode: the salt (u16s) and the commit hash; timelock mode: salt null, hash = blake2 of the ciphertext. */
  salt: number[] | null;
  commitHash: string;
  /** Timelock mode: the ciphertext (hex) and its drand round. */
  ciphertext: string | null;
  revealRound: number | null;
  /** Best block when the commit was submitted (its mortal era counts from here). */
  submittedBlock: number;
  /** Block and epoch the commit landed in, once seen. */
  commitBlock: number | null;
  commitEpoch: number | null;
  state: WeightCommitState;
  /** Block the weights were read back at. */
  confirmedBlock: number | null;
  error: string | null;
  createdAt: number;
  updatedAt: number;
}

export type NewWeightCommit = Pick<
  WeightCommitRow,
  | "settingId"
  | "mode"
  | "netuid"
  | "hotkey"
  | "uids"
  | "values"
  | "versionKey"
  | "salt"
  | "commitHash"
  | "ciphertext"
  | "revealRound"
  | "submittedBlock"
>;

/** The `weight_commits` table: the persisted state of commit-reveal, one row per commit. */
export class WeightCommitTable {
  readonly #db: DatabaseSync;
  readonly #now: () => number;

  constructor(db: DatabaseSync, now: () => number) {
    this.#db = db;
    this.#now = now;
  }

  /** Records a commit before it is submitted. */
  insert(c: NewWeightCommit): WeightCommitRow {
    const t = this.#now();
    const r = this.#db
      .prepare(
        `INSERT INTO weight_commits (setting_id, mode, netuid, hotkey, uids, vals, version_key, salt, commit_hash,
           ciphertext, reveal_round, submitted_block, state, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'prepared', ?, ?)`,
      )
      .run(
        c.settingId,
        c.mode,
        c.netuid,
        c.hotkey,
        JSON.stringify(c.uids),
        JSON.stringify(c.values),
        c.versionKey.toString(),
        c.salt === null ? null : JSON.stringify(c.salt),
        c.commitHash,
        c.ciphertext,
        c.revealRound,
        c.submittedBlock,
        t,
        t,
      );
    return this.get(Number(r.lastInsertRowid)) as WeightCommitRow;
  }

  update(
    id: number,
    u: {
      state: WeightCommitState;
      commitBlock?: number;
      commitEpoch?: number;
      confirmedBlock?: number;
      error?: string | null;
    },
  ): void {
    this.#db
      .prepare(
        `UPDATE weight_commits SET state = ?, commit_block = COALESCE(?, commit_block), commit_epoch = COALESCE(?, commit_epoch),
           confirmed_block = COALESCE(?, confirmed_block), error = ?, updated_at = ? WHERE id = ?`,
      )
      .run(
        u.state,
        u.commitBlock ?? null,
        u.commitEpoch ?? null,
        u.confirmedBlock ?? null,
        u.error ?? null,
        this.#now(),
        id,
      );
  }

  get(id: number): WeightCommitRow | undefined {
    const row = this.#db.prepare("SELECT * FROM weight_commits WHERE id = ?").get(id) as Row | undefined;
    return row ? commitFromRow(row) : undefined;
  }

  /** The open commit (prepared, committed or revealing) of an intent, if any: at most one is open. */
  open(settingId: number): WeightCommitRow | undefined {
    const row = this.#db
      .prepare(
        "SELECT * FROM weight_commits WHERE setting_id = ? AND state IN ('prepared', 'committed', 'revealing') ORDER BY id DESC LIMIT 1",
      )
      .get(settingId) as Row | undefined;
    return row ? commitFromRow(row) : undefined;
  }

  /** Commits of an intent, oldest first. */
  list(settingId: number): WeightCommitRow[] {
    return (
      this.#db
        .prepare("SELECT * FROM weight_commits WHERE setting_id = ? ORDER BY id")
        .all(settingId) as Row[]
    ).map(commitFromRow);
  }
}

function commitFromRow(r: Row): WeightCommitRow {
  return {
    id: Number(r.id),
    settingId: Number(r.setting_id),
    mode: String(r.mode) as WeightCommitMode,
    netuid: Number(r.netuid),
    hotkey: String(r.hotkey),
    uids: JSON.parse(String(r.uids)) as number[],
    values: JSON.parse(String(r.vals)) as number[],
    versionKey: BigInt(String(r.version_key)),
    salt: jsonOrNull<number[]>(r.salt),
    commitHash: String(r.commit_hash),
    ciphertext: strOrNull(r.ciphertext),
    revealRound: numOrNull(r.reveal_round),
    submittedBlock: Number(r.submitted_block),
    commitBlock: numOrNull(r.commit_block),
    commitEpoch: numOrNull(r.commit_epoch),
    state: String(r.state) as WeightCommitState,
    confirmedBlock: numOrNull(r.confirmed_block),
    error: strOrNull(r.error),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}
