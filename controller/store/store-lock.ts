import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { DatabaseSync } from "node:sqlite";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";

/** Who holds a store's single-writer lock. */
export interface StoreLockHolder {
  /** Random id of this hold; a takeover replaces it, so the old holder learns it lost. */
  lockId: string;
  /** What holds it, e.g. "serve". */
  owner: string;
  pid: number;
  host: string;
  /**
   * The holder process's start time as the kernel counts it (Linux /proc/<pid>/stat field 22,
   * clock ticks since boot), "" where unknown. A live pid with another start time is a reused pid.
   */
  pidStart: string;
  /** When the lock was taken, ms since the epoch. */
  sinceMs: number;
  /** When the holder last proved it is alive, ms since the epoch. */
  heartbeatMs: number;
}

/** Options of {@link acquireStoreLock}. */
export interface StoreLockOptions {
  /** What takes the lock, shown to whoever is refused. @default "controller" */
  owner?: string;
  /**
   * A holder that has not heartbeated for this long is taken over even when its process cannot
   * be checked (another host sharing the file, a hung process), ms. @default 120000
   */
  staleAfterMs?: number;
  /** How often the holder heartbeats, ms; well under staleAfterMs. @default 10000 */
  heartbeatMs?: number;
  /**
   * Called once when the holder finds, at a heartbeat or a guarded write, that another process
   * took the lock over (it was presumed dead). The holder must stop writing: the caller stops
   * the controller.
   */
  onLost?: (error: CacheonError) => void;
  /** Clock, ms since the epoch (tests). @default Date.now */
  now?: () => number;
  /** This process as the lock records it (tests). @default the real pid, host name and start time */
  self?: { pid: number; host: string; pidStart: string };
  /** Whether a process of this host is alive with that start time (tests). @default /proc and kill(pid, 0) */
  alive?: (pid: number, pidStart: string) => boolean;
}

/** What {@link lockVerdict} decides about the current holder. */
export type LockVerdict =
  | { kind: "free" }
  | { kind: "takeover"; why: string }
  | { kind: "held"; holder: StoreLockHolder };

/**
 * Whether a process may take a store's lock from its current holder (pure). Free when nobody
 * holds it; taken over when the holder's process is gone (same host: the pid is dead or now
 * belongs to a process started at another time) or it has not heartbeated within
 * `staleAfterMs` (any host); otherwise held. A holder of this very process is held too: two
 * controllers in one process are still two writers.
 */
export function lockVerdict(input: {
  holder: StoreLockHolder | undefined;
  self: { host: string };
  nowMs: number;
  staleAfterMs: number;
  alive: (pid: number, pidStart: string) => boolean;
}): LockVerdict {
  const { holder } = input;
  if (!holder) return { kind: "free" };
  if (holder.host === input.self.host && !input.alive(holder.pid, holder.pidStart)) {
    return { kind: "takeover", why: `its process ${holder.pid} on ${holder.host} is gone` };
  }
  const silentMs = input.nowMs - holder.heartbeatMs;
  if (silentMs > input.staleAfterMs) {
    return {
      kind: "takeover",
      why: `it has not heartbeated for ${Math.round(silentMs / 1000)} s (limit ${Math.round(input.staleAfterMs / 1000)} s)`,
    };
  }
  return { kind: "held", holder };
}

/** A held lock. */
export interface StoreLock {
  readonly holder: StoreLockHolder;
  /** The stale holder this lock was taken from, and why it was stale (the caller logs it). */
  readonly takenOver: { from: StoreLockHolder; why: string } | undefined;
  /**
   * Throws CacheonError("failed-precondition") when the lock was taken over. Call it inside the
   * write transaction it guards, so no write of a presumed-dead controller lands after a takeover.
   */
  assertHeld(): void;
  /** Gives the lock up (on a clean stop); stops the heartbeat. */
  release(): void;
}

const table = `CREATE TABLE IF NOT EXISTS store_lock (
  id INTEGER PRIMARY KEY CHECK (id = 1), lock_id TEXT NOT NULL, owner TEXT NOT NULL,
  pid INTEGER NOT NULL, host TEXT NOT NULL, pid_start TEXT NOT NULL, since_ms INTEGER NOT NULL,
  heartbeat_ms INTEGER NOT NULL
)`;

/**
 * Takes the store's single-writer lock in `db` (the controller's SQLite file), or throws
 * CacheonError("failed-precondition") naming the process that holds it (pid, host, since when,
 * last heartbeat) and what to do. A stale lock (see {@link lockVerdict}) is taken over inside one
 * IMMEDIATE transaction, so two processes racing for it cannot both win. The holder heartbeats
 * on a timer; when it finds the lock taken over it calls `onLost`.
 */
export function acquireStoreLock(db: DatabaseSync, path: string, options: StoreLockOptions = {}): StoreLock {
  const now = options.now ?? Date.now;
  const staleAfterMs = options.staleAfterMs ?? 120_000;
  const self = options.self ?? thisProcess();
  const alive = options.alive ?? processAlive;
  db.exec(table);
  const read = db.prepare("SELECT * FROM store_lock WHERE id = 1");
  const mine: StoreLockHolder = {
    lockId: randomBytes(8).toString("hex"),
    owner: options.owner ?? "controller",
    pid: self.pid,
    host: self.host,
    pidStart: self.pidStart,
    sinceMs: now(),
    heartbeatMs: now(),
  };
  let takenOver: StoreLock["takenOver"];
  db.exec("BEGIN IMMEDIATE");
  try {
    const holder = holderOf(read.get());
    const verdict = lockVerdict({ holder, self, nowMs: now(), staleAfterMs, alive });
    if (verdict.kind === "held") throw heldError(path, verdict.holder, now());
    db.prepare(
      `INSERT INTO store_lock (id, lock_id, owner, pid, host, pid_start, since_ms, heartbeat_ms)
       VALUES (1, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET lock_id = excluded.lock_id, owner = excluded.owner, pid = excluded.pid,
         host = excluded.host, pid_start = excluded.pid_start, since_ms = excluded.since_ms,
         heartbeat_ms = excluded.heartbeat_ms`,
    ).run(mine.lockId, mine.owner, mine.pid, mine.host, mine.pidStart, mine.sinceMs, mine.heartbeatMs);
    db.exec("COMMIT");
    if (verdict.kind === "takeover" && holder) takenOver = { from: holder, why: verdict.why };
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }

  const check = db.prepare("SELECT lock_id FROM store_lock WHERE id = 1");
  const beat = db.prepare("UPDATE store_lock SET heartbeat_ms = ? WHERE id = 1 AND lock_id = ?");
  let lost: CacheonError | undefined;
  let released = false;
  const loseIt = () => {
    const current = holderOf(read.get());
    lost = new CacheonError(
      "failed-precondition",
      `this controller lost the lock of store ${path}: ${current ? `${describeHolder(current)} took it over` : "the lock was removed"}; it stops writing. Make sure only one controller runs on a store`,
    );
    clearInterval(timer);
    options.onLost?.(lost);
    return lost;
  };
  const timer = setInterval(() => {
    if (released || lost || !db.isOpen) return;
    try {
      if (Number(beat.run(now(), mine.lockId).changes) !== 1) loseIt();
    } catch {
      // A busy database: the next beat tries again, well within staleAfterMs.
    }
  }, options.heartbeatMs ?? 10_000);
  timer.unref();
  return {
    holder: mine,
    takenOver,
    assertHeld() {
      if (lost) throw lost;
      const row = check.get() as { lock_id?: string } | undefined;
      if (row?.lock_id !== mine.lockId) throw loseIt();
    },
    release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      if (lost || !db.isOpen) return;
      db.prepare("DELETE FROM store_lock WHERE id = 1 AND lock_id = ?").run(mine.lockId);
    },
  };
}

/** Who holds the lock of an open store now, or undefined (for status commands). */
export function storeLockHolder(db: DatabaseSync): StoreLockHolder | undefined {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'store_lock'").get();
  return exists ? holderOf(db.prepare("SELECT * FROM store_lock WHERE id = 1").get()) : undefined;
}

function heldError(path: string, holder: StoreLockHolder, nowMs: number): CacheonError {
  return new CacheonError(
    "failed-precondition",
    `the store ${path} is in use by ${describeHolder(holder)}, last heartbeat ${Math.round((nowMs - holder.heartbeatMs) / 1000)} s ago; only one controller may write a store. Stop that process first (or use another store.path); a lock of a process that died is taken over automatically`,
  );
}

/** "serve pid 123 on host h since 2026-...", for messages. */
export function describeHolder(h: StoreLockHolder): string {
  return `${h.owner} pid ${h.pid} on host ${h.host} since ${new Date(h.sinceMs).toISOString()}`;
}

function holderOf(row: unknown): StoreLockHolder | undefined {
  if (!row) return undefined;
  const r = row as Record<string, unknown>;
  return {
    lockId: String(r.lock_id),
    owner: String(r.owner),
    pid: Number(r.pid),
    host: String(r.host),
    pidStart: String(r.pid_start),
    sinceMs: Number(r.since_ms),
    heartbeatMs: Number(r.heartbeat_ms),
  };
}

function thisProcess(): { pid: number; host: string; pidStart: string } {
  return { pid: process.pid, host: hostname(), pidStart: pidStartOf(process.pid) };
}

/** The kernel's start time of a process (Linux), "" where it cannot be read. */
function pidStartOf(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses; fields after the last ")" are plain.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "";
  } catch {
    return "";
  }
}

/** True when `pid` runs on this host and, where known, started when the lock says. */
export function processAlive(pid: number, pidStart: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: alive, owned by someone else.
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const start = pidStartOf(pid);
  return !(pidStart && start && start !== pidStart);
}
