import { DatabaseSync } from "node:sqlite";
import type { PodProfile } from "./pod-provider.ts";
import type { PodState } from "./pod-state.ts";

/** One pod's record: what was rented, for how long, at what price, and how it ended. */
export interface PodRecord {
  /** The controller's pod id. */
  podId: string;
  /** Provider name, e.g. "command:lium". */
  provider: string;
  /** Profile name. */
  profile: string;
  /** Provider's machine id; "" until the provider answered. */
  providerPodId: string;
  /** Machine address; "" until known. */
  host: string;
  /** Quoted price, USD per hour; 0 until known. */
  pricePerHour: number;
  /** Latest state. */
  state: PodState;
  /** When the pod was requested, ms since the epoch. */
  requestedAtMs: number;
  /** When the provider accepted the order (billing starts), ms since the epoch; 0 when it never did. */
  startedAtMs: number;
  /** When the provider confirmed the release, ms since the epoch; 0 while still held. */
  releasedAtMs: number;
  /** Cost in USD, from start to release; 0 while held. */
  costUsd: number;
  /** Why the pod failed, "" otherwise. */
  failure: string;
}

/** A host the fleet should think twice about renting again. */
export interface HostNote {
  provider: string;
  host: string;
  podId: string;
  reason: string;
  atMs: number;
}

/**
 * What a fleet needs, beside a pod's record, to take the pod over after a restart: how long it
 * has been in its state (timeouts go on counting), its agent and job, whether its machine was
 * returned, and the hash of its enrolment token (boot reports authenticate with it).
 */
export interface PodLease {
  podId: string;
  profile: PodProfile;
  /** When the pod entered its state, ms since the epoch. */
  stateSinceMs: number;
  agentId: string;
  /** Job running on it, "" when none. */
  jobId: string;
  /** Why it failed or was released, "" while live. */
  endReason: string;
  /** True once the provider confirmed the machine is returned (or there was never one). */
  returned: boolean;
  /** sha256 (hex) of its enrolment token; "" before one was minted. */
  tokenHash: string;
}

/** Where the fleet records pods and their costs. Small on purpose so the controller's main store can implement it. */
export interface PodLedger {
  /** Inserts or replaces a pod's record. */
  put(record: PodRecord): void;
  /** Inserts or replaces a pod's lease (the fleet's live state of it). */
  putLease(lease: PodLease): void;
  /** Leases of pods whose machine is not known to be returned, oldest request first. */
  openLeases(): PodLease[];
  /** Appends one state change. */
  transition(podId: string, from: PodState, to: PodState, atMs: number, reason: string): void;
  /** Notes a host (failed hardware verification, never booted). */
  noteHost(note: HostNote): void;
  /** A pod's record. */
  get(podId: string): PodRecord | undefined;
  /** Every pod, oldest request first. */
  list(): PodRecord[];
  /** Every state change of one pod, oldest first. */
  transitions(podId: string): { from: PodState; to: PodState; atMs: number; reason: string }[];
  /** Notes on hosts, oldest first. */
  hostNotes(): HostNote[];
  /** Sum of every pod's recorded cost, USD. */
  totalCostUsd(): number;
  close(): void;
}

/**
 * The ledger in SQLite (node:sqlite), in tables prefixed `pods_` so it can share the controller's
 * database file with other tables. `path` ":memory:" keeps it in memory.
 */
export function openSqlitePodLedger(path: string): PodLedger {
  const db = new DatabaseSync(path);
  db.exec(`
    PRAGMA journal_mode = WAL;
    CREATE TABLE IF NOT EXISTS pods_records (
      pod_id TEXT PRIMARY KEY, provider TEXT NOT NULL, profile TEXT NOT NULL,
      provider_pod_id TEXT NOT NULL, host TEXT NOT NULL, price_per_hour REAL NOT NULL,
      state TEXT NOT NULL, requested_at_ms INTEGER NOT NULL, started_at_ms INTEGER NOT NULL,
      released_at_ms INTEGER NOT NULL, cost_usd REAL NOT NULL, failure TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS pods_transitions (
      id INTEGER PRIMARY KEY AUTOINCREMENT, pod_id TEXT NOT NULL, from_state TEXT NOT NULL,
      to_state TEXT NOT NULL, at_ms INTEGER NOT NULL, reason TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS pods_transitions_pod ON pods_transitions (pod_id, id);
    CREATE TABLE IF NOT EXISTS pods_host_notes (
      id INTEGER PRIMARY KEY AUTOINCREMENT, provider TEXT NOT NULL, host TEXT NOT NULL,
      pod_id TEXT NOT NULL, reason TEXT NOT NULL, at_ms INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS pods_leases (
      pod_id TEXT PRIMARY KEY, profile TEXT NOT NULL, state_since_ms INTEGER NOT NULL,
      agent_id TEXT NOT NULL, job_id TEXT NOT NULL, end_reason TEXT NOT NULL,
      returned INTEGER NOT NULL, token_hash TEXT NOT NULL
    );
  `);
  const put = db.prepare(`INSERT OR REPLACE INTO pods_records VALUES
    ($podId, $provider, $profile, $providerPodId, $host, $pricePerHour, $state, $requestedAtMs,
     $startedAtMs, $releasedAtMs, $costUsd, $failure)`);
  const addTransition = db.prepare(
    "INSERT INTO pods_transitions (pod_id, from_state, to_state, at_ms, reason) VALUES (?, ?, ?, ?, ?)",
  );
  const addNote = db.prepare(
    "INSERT INTO pods_host_notes (provider, host, pod_id, reason, at_ms) VALUES (?, ?, ?, ?, ?)",
  );
  const getOne = db.prepare("SELECT * FROM pods_records WHERE pod_id = ?");
  const listAll = db.prepare("SELECT * FROM pods_records ORDER BY requested_at_ms, pod_id");
  const listTransitions = db.prepare("SELECT * FROM pods_transitions WHERE pod_id = ? ORDER BY id");
  const listNotes = db.prepare("SELECT * FROM pods_host_notes ORDER BY id");
  const total = db.prepare("SELECT COALESCE(SUM(cost_usd), 0) AS total FROM pods_records");
  const putLease = db.prepare(`INSERT OR REPLACE INTO pods_leases VALUES
    ($podId, $profile, $stateSinceMs, $agentId, $jobId, $endReason, $returned, $tokenHash)`);
  const openLeases = db.prepare(
    `SELECT l.* FROM pods_leases l JOIN pods_records r ON r.pod_id = l.pod_id
     WHERE l.returned = 0 ORDER BY r.requested_at_ms, l.pod_id`,
  );

  return {
    put(record) {
      put.run({ ...record });
    },
    putLease(lease) {
      putLease.run({ ...lease, profile: JSON.stringify(lease.profile), returned: lease.returned ? 1 : 0 });
    },
    openLeases() {
      return openLeases.all().map((row) => ({
        podId: String(row.pod_id),
        profile: JSON.parse(String(row.profile)) as PodProfile,
        stateSinceMs: Number(row.state_since_ms),
        agentId: String(row.agent_id),
        jobId: String(row.job_id),
        endReason: String(row.end_reason),
        returned: Number(row.returned) === 1,
        tokenHash: String(row.token_hash),
      }));
    },
    transition(podId, from, to, atMs, reason) {
      addTransition.run(podId, from, to, atMs, reason);
    },
    noteHost(note) {
      addNote.run(note.provider, note.host, note.podId, note.reason, note.atMs);
    },
    get(podId) {
      const row = getOne.get(podId);
      return row ? toRecord(row) : undefined;
    },
    list() {
      return listAll.all().map(toRecord);
    },
    transitions(podId) {
      return listTransitions.all(podId).map((row) => ({
        from: row.from_state as PodState,
        to: row.to_state as PodState,
        atMs: Number(row.at_ms),
        reason: String(row.reason),
      }));
    },
    hostNotes() {
      return listNotes.all().map((row) => ({
        provider: String(row.provider),
        host: String(row.host),
        podId: String(row.pod_id),
        reason: String(row.reason),
        atMs: Number(row.at_ms),
      }));
    },
    totalCostUsd() {
      return Number((total.get() as { total: number }).total);
    },
    close() {
      db.close();
    },
  };
}

function toRecord(row: Record<string, unknown>): PodRecord {
  return {
    podId: String(row.pod_id),
    provider: String(row.provider),
    profile: String(row.profile),
    providerPodId: String(row.provider_pod_id),
    host: String(row.host),
    pricePerHour: Number(row.price_per_hour),
    state: row.state as PodState,
    requestedAtMs: Number(row.requested_at_ms),
    startedAtMs: Number(row.started_at_ms),
    releasedAtMs: Number(row.released_at_ms),
    costUsd: Number(row.cost_usd),
    failure: String(row.failure),
  };
}
