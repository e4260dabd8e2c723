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

/** A message the controller sent (or will resend) to an agent. */
export interface ControllerMessageRow {
  agentId: string;
  seq: number;
  kind: "job" | "cancel" | "grant";
  jobId: string;
  /** The ControllerMessage, protobuf binary. */
  message: Uint8Array;
  acked: boolean;
}

/** Where a job stands on the control plane. */
export type JobState = "assigned" | "finished" | "failed" | "cancelled" | "lost";

/** An artefact a job may upload, and how far it got. */
export interface ArtefactRow {
  jobId: string;
  name: string;
  maxBytes: number;
  /**
   * allowed: named in the job; granted: a URL for announced bytes was issued; verified or
   * refused: checked, once, for good.
   */
  state: "allowed" | "granted" | "verified" | "refused";
  /** Announced size and sha256 (hex) the grant is bound to; 0 and "" before. */
  sizeBytes: number;
  sha256: string;
  /** When the granted URL expires, ms since the epoch; 0 before. */
  expiresAtMs: number;
  problem: string;
  location: string;
}

/**
 * Persistence of the control plane in the controller's store file: enrolment tokens, agents, the
 * sequenced messages to agents, jobs with their first outcome, and artefacts. Everything here is
 * bounded by what the controller decided (jobs sent, uploads named); what agents send freely
 * (events) goes to the separate event log (event-log.ts).
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
  /**
   * Keeps the first outcome an agent reported for a job (a JobFinished or JobFailed, protobuf
   * binary); false when one was kept before. In the store, not the event log: it is what the
   * round waits for, including across a restart, and there is one per job the controller sent.
   */
  putJobOutcome(jobId: string, kind: "jobFinished" | "jobFailed", payload: Uint8Array): boolean;
  jobOutcome(jobId: string): { kind: "jobFinished" | "jobFailed"; payload: Uint8Array } | undefined;
  /** Inserts or replaces an artefact's row. */
  putArtefact(row: ArtefactRow): void;
  artefact(jobId: string, name: string): ArtefactRow | undefined;
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
CREATE TABLE IF NOT EXISTS cp_controller_messages (
  agent_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, job_id TEXT NOT NULL,
  message BLOB NOT NULL, acked INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (agent_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cp_jobs (
  job_id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, state TEXT NOT NULL, updated_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cp_job_outcomes (
  job_id TEXT PRIMARY KEY, kind TEXT NOT NULL, payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS cp_artefacts (
  job_id TEXT NOT NULL, name TEXT NOT NULL, max_bytes INTEGER NOT NULL, state TEXT NOT NULL,
  size_bytes INTEGER NOT NULL, sha256 TEXT NOT NULL, expires_at_ms INTEGER NOT NULL,
  problem TEXT NOT NULL, location TEXT NOT NULL, PRIMARY KEY (job_id, name)
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
      putOutcome: p("INSERT OR IGNORE INTO cp_job_outcomes (job_id, kind, payload) VALUES (?, ?, ?)"),
      outcome: p("SELECT kind, payload FROM cp_job_outcomes WHERE job_id = ?"),
      putArtefact: p(
        `INSERT OR REPLACE INTO cp_artefacts (job_id, name, max_bytes, state, size_bytes, sha256, expires_at_ms, problem, location)
         VALUES ($jobId, $name, $maxBytes, $state, $sizeBytes, $sha256, $expiresAtMs, $problem, $location)`,
      ),
      artefact: p("SELECT * FROM cp_artefacts WHERE job_id = ? AND name = ?"),
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
        kind: r.kind as ControllerMessageRow["kind"],
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

  putJobOutcome(jobId: string, kind: "jobFinished" | "jobFailed", payload: Uint8Array): boolean {
    return Number(this.#s("putOutcome").run(jobId, kind, payload).changes) === 1;
  }

  jobOutcome(jobId: string): { kind: "jobFinished" | "jobFailed"; payload: Uint8Array } | undefined {
    const r = this.#s("outcome").get(jobId) as { kind: string; payload: Uint8Array } | undefined;
    return r ? { kind: r.kind as "jobFinished" | "jobFailed", payload: r.payload } : undefined;
  }

  putArtefact(row: ArtefactRow): void {
    this.#s("putArtefact").run({ ...row });
  }

  artefact(jobId: string, name: string): ArtefactRow | undefined {
    const r = this.#s("artefact").get(jobId, name) as Record<string, unknown> | undefined;
    if (!r) return undefined;
    return {
      jobId: String(r.job_id),
      name: String(r.name),
      maxBytes: Number(r.max_bytes),
      state: r.state as ArtefactRow["state"],
      sizeBytes: Number(r.size_bytes),
      sha256: String(r.sha256),
      expiresAtMs: Number(r.expires_at_ms),
      problem: String(r.problem),
      location: String(r.location),
    };
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
