import { DatabaseSync, type StatementSync } from "node:sqlite";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";

/** An enrolment token as stored: only its hash. */
export interface EnrolmentTokenRow {
  tokenHash: string;
  podId: string;
  createdAtMs: number;
  expiresAtMs: number;
  /** When it was traded for a credential; null while unused. */
  usedAtMs: number | null;
}

/** An enrolled agent. */
export interface AgentRow {
  agentId: string;
  podId: string;
  /** sha256 (hex) of the session credential; the credential itself is never stored. */
  credentialHash: string;
  agentVersion: string;
  /** The HardwareReport the agent sent, protobuf binary. */
  hardware: Uint8Array;
  enrolledAtMs: number;
  /** "active" until the agent is declared lost or retired; a pod holds one active agent at most. */
  status: "active" | "lost" | "retired";
}

/** One stored agent event. */
export interface EventRow {
  agentId: string;
  seq: number;
  atMs: number;
  receivedAtMs: number;
  /** The payload case, e.g. "progress". */
  kind: string;
  jobId: string;
  /** The AgentEvent, protobuf binary. */
  event: Uint8Array;
}

/** A message the controller sent (or will resend) to an agent. */
export interface ControllerMessageRow {
  agentId: string;
  seq: number;
  kind: "job" | "cancel";
  jobId: string;
  /** The ControllerMessage, protobuf binary. */
  message: Uint8Array;
  acked: boolean;
}

/** Where a job stands on the control plane. */
export type JobState = "assigned" | "finished" | "failed" | "cancelled" | "lost";

/**
 * Persistence of the control plane: enrolment tokens, agents, the de-duplicated event log and the
 * sequenced messages to agents. Kept behind this interface so the controller's store (issue 9) can
 * share one database file later.
 */
export interface ControlPlaneStore {
  insertEnrolmentToken(row: Omit<EnrolmentTokenRow, "usedAtMs">): void;
  enrolmentToken(tokenHash: string): EnrolmentTokenRow | undefined;
  /**
   * Marks the token used and inserts the agent in one transaction; returns false (and changes
   * nothing) when the token was used meanwhile or the pod already has an active agent.
   */
  consumeTokenAndAddAgent(
    tokenHash: string,
    agent: AgentRow,
    nowMs: number,
  ): "ok" | "token-used" | "pod-taken";
  agentByCredentialHash(credentialHash: string): AgentRow | undefined;
  agent(agentId: string): AgentRow | undefined;
  activeAgentOfPod(podId: string): AgentRow | undefined;
  /** The agent that enrolled last on a pod, whatever its status (its hardware report outlives it). */
  latestAgentOfPod(podId: string): AgentRow | undefined;
  setAgentStatus(agentId: string, status: AgentRow["status"]): void;
  /** Highest stored event seq of an agent, 0 for none. */
  lastEventSeq(agentId: string): number;
  /** Stores an event once; false when (agent, seq) was stored before. */
  appendEvent(row: EventRow): boolean;
  /** Stored events of an agent in seq order, optionally of one job. */
  events(agentId: string, jobId?: string): EventRow[];
  /**
   * Appends a message to an agent under the next controller seq, which `encode` receives to build
   * the message bytes; returns that seq.
   */
  appendControllerMessage(
    row: Omit<ControllerMessageRow, "seq" | "acked" | "message">,
    encode: (seq: number) => Uint8Array,
  ): number;
  /** Unacknowledged messages to an agent with seq > afterSeq, in order. */
  pendingControllerMessages(agentId: string, afterSeq: number): ControllerMessageRow[];
  /** Marks messages up to and including seq acknowledged. */
  ackControllerMessages(agentId: string, seq: number): void;
  setJob(jobId: string, agentId: string, state: JobState, nowMs: number): void;
  job(jobId: string): { jobId: string; agentId: string; state: JobState } | undefined;
  /** Jobs of an agent in state "assigned". */
  openJobs(agentId: string): string[];
  /** Agents holding at least one job in state "assigned". */
  agentsWithOpenJobs(): string[];
  close(): void;
}

const schema = `
CREATE TABLE IF NOT EXISTS cp_enrolment_tokens (
  token_hash TEXT PRIMARY KEY, pod_id TEXT NOT NULL, created_at_ms INTEGER NOT NULL,
  expires_at_ms INTEGER NOT NULL, used_at_ms INTEGER
);
CREATE TABLE IF NOT EXISTS cp_agents (
  agent_id TEXT PRIMARY KEY, pod_id TEXT NOT NULL, credential_hash TEXT NOT NULL UNIQUE,
  agent_version TEXT NOT NULL, hardware BLOB NOT NULL, enrolled_at_ms INTEGER NOT NULL,
  status TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS cp_agents_active_pod ON cp_agents (pod_id) WHERE status = 'active';
CREATE TABLE IF NOT EXISTS cp_agent_events (
  agent_id TEXT NOT NULL, seq INTEGER NOT NULL, at_ms INTEGER NOT NULL, received_at_ms INTEGER NOT NULL,
  kind TEXT NOT NULL, job_id TEXT NOT NULL, event BLOB NOT NULL, PRIMARY KEY (agent_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cp_controller_messages (
  agent_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, job_id TEXT NOT NULL,
  message BLOB NOT NULL, acked INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (agent_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cp_jobs (
  job_id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, state TEXT NOT NULL, updated_at_ms INTEGER NOT NULL
);
`;

/** Options of {@link SqliteControlPlaneStore}. */
export interface SqliteControlPlaneStoreOptions {
  /** SQLite file, or ":memory:". @default ":memory:" */
  path?: string;
}

/** The control plane's store in a SQLite file (node:sqlite), tables prefixed `cp_`. */
export class SqliteControlPlaneStore implements ControlPlaneStore {
  readonly #db: DatabaseSync;
  readonly #stmts: Record<string, StatementSync>;

  constructor(options: SqliteControlPlaneStoreOptions = {}) {
    const path = options.path ?? ":memory:";
    try {
      this.#db = new DatabaseSync(path);
      this.#db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;");
      this.#db.exec(schema);
    } catch (error) {
      throw new CacheonError(
        "invalid-config",
        `cannot open the control plane's database ${path}: ${(error as Error).message}; check the path and its permissions`,
        { cause: error },
      );
    }
    const p = (sql: string) => this.#db.prepare(sql);
    this.#stmts = {
      insertToken: p(
        "INSERT INTO cp_enrolment_tokens (token_hash, pod_id, created_at_ms, expires_at_ms) VALUES (?, ?, ?, ?)",
      ),
      token: p("SELECT * FROM cp_enrolment_tokens WHERE token_hash = ?"),
      useToken: p(
        "UPDATE cp_enrolment_tokens SET used_at_ms = ? WHERE token_hash = ? AND used_at_ms IS NULL",
      ),
      insertAgent: p(
        "INSERT INTO cp_agents (agent_id, pod_id, credential_hash, agent_version, hardware, enrolled_at_ms, status) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ),
      agentByCredential: p("SELECT * FROM cp_agents WHERE credential_hash = ?"),
      agent: p("SELECT * FROM cp_agents WHERE agent_id = ?"),
      activeAgentOfPod: p("SELECT * FROM cp_agents WHERE pod_id = ? AND status = 'active'"),
      latestAgentOfPod: p(
        "SELECT * FROM cp_agents WHERE pod_id = ? ORDER BY enrolled_at_ms DESC, rowid DESC LIMIT 1",
      ),
      setAgentStatus: p("UPDATE cp_agents SET status = ? WHERE agent_id = ?"),
      lastSeq: p("SELECT COALESCE(MAX(seq), 0) AS seq FROM cp_agent_events WHERE agent_id = ?"),
      insertEvent: p(
        "INSERT OR IGNORE INTO cp_agent_events (agent_id, seq, at_ms, received_at_ms, kind, job_id, event) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ),
      events: p("SELECT * FROM cp_agent_events WHERE agent_id = ? ORDER BY seq"),
      eventsOfJob: p("SELECT * FROM cp_agent_events WHERE agent_id = ? AND job_id = ? ORDER BY seq"),
      nextMessageSeq: p(
        "SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM cp_controller_messages WHERE agent_id = ?",
      ),
      insertMessage: p(
        "INSERT INTO cp_controller_messages (agent_id, seq, kind, job_id, message) VALUES (?, ?, ?, ?, ?)",
      ),
      pendingMessages: p(
        "SELECT * FROM cp_controller_messages WHERE agent_id = ? AND seq > ? AND acked = 0 ORDER BY seq",
      ),
      ackMessages: p(
        "UPDATE cp_controller_messages SET acked = 1 WHERE agent_id = ? AND seq <= ? AND acked = 0",
      ),
      setJob: p(
        "INSERT INTO cp_jobs (job_id, agent_id, state, updated_at_ms) VALUES (?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET agent_id = excluded.agent_id, state = excluded.state, updated_at_ms = excluded.updated_at_ms",
      ),
      job: p("SELECT job_id, agent_id, state FROM cp_jobs WHERE job_id = ?"),
      openJobs: p(
        "SELECT job_id FROM cp_jobs WHERE agent_id = ? AND state = 'assigned' ORDER BY updated_at_ms",
      ),
      agentsWithOpenJobs: p(
        "SELECT DISTINCT agent_id FROM cp_jobs WHERE state = 'assigned' ORDER BY agent_id",
      ),
    };
  }

  #s(name: string): StatementSync {
    const stmt = this.#stmts[name];
    if (!stmt) throw new CacheonError("internal", `no statement ${name}`);
    return stmt;
  }

  insertEnrolmentToken(row: Omit<EnrolmentTokenRow, "usedAtMs">): void {
    this.#s("insertToken").run(row.tokenHash, row.podId, row.createdAtMs, row.expiresAtMs);
  }

  enrolmentToken(tokenHash: string): EnrolmentTokenRow | undefined {
    const r = this.#s("token").get(tokenHash) as Record<string, unknown> | undefined;
    if (!r) return undefined;
    return {
      tokenHash: String(r.token_hash),
      podId: String(r.pod_id),
      createdAtMs: Number(r.created_at_ms),
      expiresAtMs: Number(r.expires_at_ms),
      usedAtMs: r.used_at_ms === null ? null : Number(r.used_at_ms),
    };
  }

  consumeTokenAndAddAgent(
    tokenHash: string,
    agent: AgentRow,
    nowMs: number,
  ): "ok" | "token-used" | "pod-taken" {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      if (this.activeAgentOfPod(agent.podId)) {
        this.#db.exec("ROLLBACK");
        return "pod-taken";
      }
      const used = this.#s("useToken").run(nowMs, tokenHash);
      if (Number(used.changes) !== 1) {
        this.#db.exec("ROLLBACK");
        return "token-used";
      }
      this.#s("insertAgent").run(
        agent.agentId,
        agent.podId,
        agent.credentialHash,
        agent.agentVersion,
        agent.hardware,
        agent.enrolledAtMs,
        agent.status,
      );
      this.#db.exec("COMMIT");
      return "ok";
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  agentByCredentialHash(credentialHash: string): AgentRow | undefined {
    return agentRow(this.#s("agentByCredential").get(credentialHash));
  }

  agent(agentId: string): AgentRow | undefined {
    return agentRow(this.#s("agent").get(agentId));
  }

  activeAgentOfPod(podId: string): AgentRow | undefined {
    return agentRow(this.#s("activeAgentOfPod").get(podId));
  }

  latestAgentOfPod(podId: string): AgentRow | undefined {
    return agentRow(this.#s("latestAgentOfPod").get(podId));
  }

  setAgentStatus(agentId: string, status: AgentRow["status"]): void {
    this.#s("setAgentStatus").run(status, agentId);
  }

  lastEventSeq(agentId: string): number {
    const r = this.#s("lastSeq").get(agentId) as { seq: number };
    return Number(r.seq);
  }

  appendEvent(row: EventRow): boolean {
    const result = this.#s("insertEvent").run(
      row.agentId,
      row.seq,
      row.atMs,
      row.receivedAtMs,
      row.kind,
      row.jobId,
      row.event,
    );
    return Number(result.changes) === 1;
  }

  events(agentId: string, jobId?: string): EventRow[] {
    const rows =
      jobId === undefined ? this.#s("events").all(agentId) : this.#s("eventsOfJob").all(agentId, jobId);
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

  appendControllerMessage(
    row: Omit<ControllerMessageRow, "seq" | "acked" | "message">,
    encode: (seq: number) => Uint8Array,
  ): number {
    const seq = Number((this.#s("nextMessageSeq").get(row.agentId) as { seq: number }).seq);
    this.#s("insertMessage").run(row.agentId, seq, row.kind, row.jobId, encode(seq));
    return seq;
  }

  pendingControllerMessages(agentId: string, afterSeq: number): ControllerMessageRow[] {
    return this.#s("pendingMessages")
      .all(agentId, afterSeq)
      .map((r) => ({
        agentId: String(r.agent_id),
        seq: Number(r.seq),
        kind: r.kind as "job" | "cancel",
        jobId: String(r.job_id),
        message: r.message as Uint8Array,
        acked: Boolean(r.acked),
      }));
  }

  ackControllerMessages(agentId: string, seq: number): void {
    this.#s("ackMessages").run(agentId, seq);
  }

  setJob(jobId: string, agentId: string, state: JobState, nowMs: number): void {
    this.#s("setJob").run(jobId, agentId, state, nowMs);
  }

  job(jobId: string): { jobId: string; agentId: string; state: JobState } | undefined {
    const r = this.#s("job").get(jobId) as Record<string, unknown> | undefined;
    return r
      ? { jobId: String(r.job_id), agentId: String(r.agent_id), state: r.state as JobState }
      : undefined;
  }

  openJobs(agentId: string): string[] {
    return this.#s("openJobs")
      .all(agentId)
      .map((r) => String(r.job_id));
  }

  agentsWithOpenJobs(): string[] {
    return this.#s("agentsWithOpenJobs")
      .all()
      .map((r) => String(r.agent_id));
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}

function agentRow(r: unknown): AgentRow | undefined {
  if (!r) return undefined;
  const row = r as Record<string, unknown>;
  return {
    agentId: String(row.agent_id),
    podId: String(row.pod_id),
    credentialHash: String(row.credential_hash),
    agentVersion: String(row.agent_version),
    hardware: row.hardware as Uint8Array,
    enrolledAtMs: Number(row.enrolled_at_ms),
    status: row.status as AgentRow["status"],
  };
}
