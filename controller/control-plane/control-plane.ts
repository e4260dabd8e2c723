import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import {
  type AgentEvent,
  AgentEventSchema,
  type AgentMessage,
  AgentService,
  AgentState,
  type ControllerMessage,
  ControllerMessageSchema,
  type EnrolRequest,
  EnrolResponseSchema,
  type Hello,
  JobFailedSchema,
  JobFinishedSchema,
} from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import {
  type EvaluationJob,
  EvaluationJobSchema,
  UploadTargetSchema,
} from "../../shared/gen/cacheon/v1/job_pb.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import type { JobOutcome } from "../rounds/control-plane-job-runner.ts";
import { agentVersionProblem } from "./agent-version-problem.ts";
import { ArtefactIntake } from "./artefact-intake.ts";
import type {
  ConnectedAgent,
  ControlPlaneListener,
  ControlPlaneOptions,
  ControlPlaneStats,
  EventRetentionOptions,
} from "./control-plane-options.ts";
import type { AgentRow, ControlPlaneStore } from "./control-plane-store.ts";
import { enrolAgent, type MintedToken, mintEnrolmentToken } from "./enrolment.ts";
import { type AgentEventLog, SqliteEventLog } from "./event-log.ts";
import { classifySeq, eventJobId, validateEventPayload } from "./event-validation.ts";
import { OutgoingQueue } from "./outgoing-queue.ts";
import { PendingEvents } from "./pending-events.ts";
import { TokenBucket } from "./rate-limiter.ts";
import { toConnectError } from "./rpc-error.ts";
import { hashSecret, looksLikeSecret, sessionCredentialPrefix } from "./secrets.ts";
import { resolveSessionLimits, type SessionLimits } from "./session-limits.ts";
import { decideResume } from "./session-resume.ts";
import { type UploadRequest, type UploadStorage, uploadNameProblem } from "./upload-storage.ts";

/** Event kinds that carry a job's outcome or an artefact's state: kept whatever the agent's quota. */
const essential = new Set(["jobFinished", "jobFailed", "artefactReady", "artefact"]);

/** Events accepted before a commit is forced, whatever the turn of the event loop. */
const maxPendingEvents = 4096;

/** Rate limits of one agent, kept across its sessions (reconnecting does not refill them). */
interface AgentBuckets {
  messages: TokenBucket;
  bytes: TokenBucket;
}

interface LiveSession {
  id: number;
  agentId: string;
  podId: string;
  agentVersion: string;
  queue: OutgoingQueue<ControllerMessage>;
  connectedAtMs: number;
  lastSeenMs: number;
  state: AgentState;
  helloDone: boolean;
  sessionSeq: number;
  storedSeq: number;
  maxSentControllerSeq: number;
  buckets: AgentBuckets;
  lastHeartbeatSentMs: number;
  timers: NodeJS.Timeout[];
  abort: AbortController;
}

/**
 * The controller's side of the control plane: enrols agents, keeps one session per agent, sends
 * jobs and cancellations, stores each agent event exactly once and tells the scheduler what
 * happened. Mount it on a server with {@link ControlPlane.routes}.
 */
export class ControlPlane {
  readonly #store: ControlPlaneStore;
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #deadlineMs: number;
  readonly #limits: SessionLimits;
  readonly #uploads: UploadStorage | undefined;
  readonly #artefacts: ArtefactIntake;
  readonly #minAgentVersion: string;
  readonly #events: AgentEventLog;
  readonly #ownsEvents: boolean;
  readonly #retention: Required<EventRetentionOptions>;
  readonly #buckets = new Map<string, AgentBuckets>();
  #pruneTimer: NodeJS.Timeout | undefined;
  /** Events accepted and not yet committed (nor acknowledged). */
  #pending = new PendingEvents<LiveSession>();
  #commitScheduled = false;
  /** Agent of each job sent (a job id is never reused nor moved), so events need no lookup. */
  readonly #jobAgents = new Map<string, string>();
  readonly #now: () => number;
  readonly #listeners = new Set<Partial<ControlPlaneListener>>();
  readonly #sessions = new Map<string, LiveSession>();
  readonly #lostTimers = new Map<string, NodeJS.Timeout>();
  readonly #lastSeen = new Map<string, number>();
  #nextSessionId = 1;
  #closed = false;
  readonly stats: ControlPlaneStats = {
    eventsStored: 0,
    duplicatesDropped: 0,
    sessionsOpened: 0,
    sessionsRefused: 0,
    throttledMs: 0,
    eventsOverQuota: 0,
    unknownBytesDropped: 0,
    artefactsChecked: 0,
  };

  constructor(options: ControlPlaneOptions) {
    this.#store = options.store;
    this.#log = options.logger ?? silentLogger;
    this.#intervalMs = options.heartbeatIntervalMs ?? 5000;
    this.#deadlineMs = options.heartbeatDeadlineMs ?? 20_000;
    if (!(this.#intervalMs > 0 && this.#deadlineMs > this.#intervalMs)) {
      throw new CacheonError(
        "invalid-config",
        `heartbeat deadline (${this.#deadlineMs} ms) must be longer than the interval (${this.#intervalMs} ms), both positive`,
      );
    }
    this.#limits = resolveSessionLimits(options.limits);
    this.#uploads = options.uploads;
    this.#artefacts = new ArtefactIntake({
      store: this.#store,
      uploads: this.#uploads,
      uploadTtlMs: options.uploadTtlMs ?? 10 * 60_000,
      now: () => this.#now(),
      logger: this.#log,
      sendGrant: (agentId, jobId, build) => this.#sendSequenced(agentId, "grant", jobId, build),
      onVerified: (agentId, verification) => this.#emit("artefactVerified", agentId, verification),
      onCheckStarted: () => {
        this.stats.artefactsChecked += 1;
      },
    });
    this.#minAgentVersion = options.minAgentVersion ?? "";
    this.#now = options.now ?? Date.now;
    this.#events = options.events ?? new SqliteEventLog();
    this.#ownsEvents = options.events === undefined;
    this.#retention = {
      maxAgeMs: options.retention?.maxAgeMs ?? 14 * 24 * 3600_000,
      maxBytes: options.retention?.maxBytes ?? 4 * 1024 ** 3,
      everyMs: options.retention?.everyMs ?? 10 * 60_000,
    };
    this.pruneEvents();
    this.#pruneTimer = setInterval(() => {
      try {
        this.pruneEvents();
      } catch (error) {
        this.#log.warn("event retention failed; tried again later", { error });
      }
    }, this.#retention.everyMs);
    this.#pruneTimer.unref();
  }

  /** Applies the event log's retention now (also done on a timer). */
  pruneEvents(): void {
    const report = this.#events.prune({
      olderThanMs: this.#now() - this.#retention.maxAgeMs,
      maxBytes: this.#retention.maxBytes,
    });
    if (report.expired + report.overCap > 0) this.#log.info("agent events pruned", { ...report });
  }

  /** The limits in force (the server uses maxMessageBytes for its read and write caps). */
  get limits(): SessionLimits {
    return this.#limits;
  }

  /** Registers callbacks; returns a function that removes them. */
  addListener(listener: Partial<ControlPlaneListener>): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Mints a one-time enrolment token for a pod, valid for `ttlMs`. Only its hash is stored. */
  mintEnrolmentToken(podId: string, ttlMs: number): MintedToken {
    return mintEnrolmentToken(this.#store, podId, ttlMs, this.#now());
  }

  /** Agents with a live session now. */
  connectedAgents(): ConnectedAgent[] {
    return [...this.#sessions.values()]
      .filter((s) => s.helloDone)
      .map((s) => ({
        agentId: s.agentId,
        podId: s.podId,
        agentVersion: s.agentVersion,
        connectedAtUnixMs: s.connectedAtMs,
        lastSeenUnixMs: s.lastSeenMs,
        state: s.state,
        openJobIds: this.#store.openJobs(s.agentId),
      }));
  }

  /** Stored events of an agent in seq order (optionally of one job), decoded. */
  events(agentId: string, jobId?: string): AgentEvent[] {
    return this.#events.events(agentId, jobId).map((row) => fromBinary(AgentEventSchema, row.event));
  }

  /**
   * Sends a job to a connected agent, naming the artefacts it may upload (`uploads`; their URLs
   * are granted later, one per announced body). The job is stored and resent until the agent
   * acknowledges it, across reconnects. Returns the job as sent.
   */
  async assignJob(
    agentId: string,
    job: EvaluationJob,
    options: { uploads?: UploadRequest[] } = {},
  ): Promise<EvaluationJob> {
    const session = this.#sessions.get(agentId);
    if (!session?.helloDone) {
      throw new CacheonError(
        "failed-precondition",
        `agent ${agentId} has no live session; pick a connected agent`,
      );
    }
    if (!job.jobId) throw new CacheonError("invalid-argument", "the job has no job_id");
    if (this.#store.job(job.jobId)) {
      throw new CacheonError(
        "failed-precondition",
        `job ${job.jobId} was assigned before; job ids are never reused`,
      );
    }
    const sent = create(EvaluationJobSchema, job);
    const requests = options.uploads ?? [];
    if (requests.length > 0) {
      if (!this.#uploads) {
        throw new CacheonError(
          "invalid-config",
          "uploads were requested but the control plane has no upload storage configured",
        );
      }
      for (const request of requests) {
        const problem = uploadNameProblem(request.name);
        if (problem)
          throw new CacheonError("invalid-argument", `upload ${JSON.stringify(request.name)}: ${problem}`);
      }
      // Named, without URLs: the agent announces each body when ready and gets a URL bound to it.
      sent.uploads = requests.map((r) =>
        create(UploadTargetSchema, { name: r.name, maxBytes: BigInt(r.maxBytes) }),
      );
      for (const r of requests) {
        this.#store.putArtefact({
          jobId: job.jobId,
          name: r.name,
          maxBytes: r.maxBytes,
          state: "allowed",
          sizeBytes: 0,
          sha256: "",
          expiresAtMs: 0,
          problem: "",
          location: "",
        });
      }
    }
    this.#store.setJob(job.jobId, agentId, "assigned", this.#now());
    this.#sendSequenced(agentId, "job", job.jobId, (seq) =>
      create(ControllerMessageSchema, { kind: { case: "job", value: { seq: BigInt(seq), job: sent } } }),
    );
    return sent;
  }

  /**
   * Where a job stands, from the store (so it answers across a controller restart): its state,
   * agent and pod, and for a finished or failed job the first outcome its agent reported. A
   * finished job whose outcome was not kept (a store from before outcomes were) reads as lost.
   */
  jobOutcome(jobId: string): JobOutcome | undefined {
    const job = this.#store.job(jobId);
    if (!job) return undefined;
    const podId = this.#store.agent(job.agentId)?.podId ?? "";
    const base = { agentId: job.agentId, podId };
    if (job.state !== "finished" && job.state !== "failed") return { ...base, state: job.state };
    const outcome = this.#store.jobOutcome(jobId);
    if (outcome?.kind === "jobFinished") {
      const result = fromBinary(JobFinishedSchema, outcome.payload).result;
      if (result) return { ...base, state: "finished", result };
    }
    if (outcome?.kind === "jobFailed") {
      const failure = fromBinary(JobFailedSchema, outcome.payload);
      return { ...base, state: "failed", reason: failure.reason, retryable: failure.retryable };
    }
    return { ...base, state: "lost" };
  }

  /**
   * After a restart: agents that hold open jobs but have not come back are declared lost (their
   * jobs handed back) once the heartbeat deadline passes without them, as if their session had
   * just ended. Without this, a pod that died while the controller was down would keep its jobs
   * forever.
   */
  watchAgentsWithOpenJobs(): void {
    for (const agentId of this.#store.agentsWithOpenJobs()) {
      if (this.#sessions.has(agentId) || this.#lostTimers.has(agentId)) continue;
      this.#armLostTimer(agentId, this.#now());
    }
  }

  /**
   * After a restart: cancels every open job `wanted` says no (the round that sent it moved on,
   * or will rerun it), so agents stop them and their pods come free; returns the job ids
   * cancelled. The cancellation is delivered when the agent comes back.
   */
  cancelUnwantedJobs(wanted: (jobId: string) => boolean, reason: string): string[] {
    const cancelled: string[] = [];
    for (const agentId of this.#store.agentsWithOpenJobs()) {
      for (const jobId of this.#store.openJobs(agentId)) {
        if (wanted(jobId)) continue;
        this.cancelJob(jobId, reason);
        cancelled.push(jobId);
      }
    }
    return cancelled;
  }

  /** Cancels a job on the agent running it; the agent stops it and reports the outcome. */
  cancelJob(jobId: string, reason: string): void {
    const job = this.#store.job(jobId);
    if (!job) throw new CacheonError("not-found", `job ${jobId} is unknown to the control plane`);
    if (job.state !== "assigned") return;
    this.#store.setJob(jobId, job.agentId, "cancelled", this.#now());
    this.#sendSequenced(job.agentId, "cancel", jobId, (seq) =>
      create(ControllerMessageSchema, {
        kind: { case: "cancel", value: { seq: BigInt(seq), jobId, reason } },
      }),
    );
  }

  /** Retires an agent: its session ends and its pod may enrol a new agent. */
  retireAgent(agentId: string): void {
    this.#store.setAgentStatus(agentId, "retired");
    this.#sessions
      .get(agentId)
      ?.queue.fail(new ConnectError("agent retired by the controller", Code.PermissionDenied));
  }

  /** Ends every session with UNAVAILABLE (agents reconnect elsewhere or later) and stops timers. */
  close(): void {
    this.#commitQuietly();
    this.#closed = true;
    for (const s of this.#sessions.values()) {
      s.queue.fail(new ConnectError("controller shutting down; reconnect later", Code.Unavailable));
    }
    for (const t of this.#lostTimers.values()) clearTimeout(t);
    this.#lostTimers.clear();
    clearInterval(this.#pruneTimer);
    if (this.#ownsEvents) this.#events.close();
  }

  /** Registers the AgentService handlers on a Connect router. */
  routes(router: ConnectRouter): void {
    router.service(AgentService, {
      enrol: async (request) => this.#enrol(request),
      session: (requests, context) => this.#session(requests, context),
    });
  }

  #enrol(request: EnrolRequest) {
    try {
      // Before the token is spent: an agent refused for its version can enrol once updated.
      const tooOld = agentVersionProblem(request.agentVersion, this.#minAgentVersion);
      if (tooOld) throw new CacheonError("failed-precondition", tooOld);
      const enrolment = enrolAgent(this.#store, request, this.#now());
      this.#log.info("agent enrolled", { agentId: enrolment.agentId, podId: enrolment.podId });
      return create(EnrolResponseSchema, {
        agentId: enrolment.agentId,
        sessionCredential: enrolment.sessionCredential,
        heartbeatIntervalMs: this.#intervalMs,
        heartbeatDeadlineMs: this.#deadlineMs,
      });
    } catch (error) {
      this.#log.warn("enrolment refused", { podId: request.podId, error });
      throw toConnectError(error);
    }
  }

  #emit<K extends keyof ControlPlaneListener>(name: K, ...args: Parameters<ControlPlaneListener[K]>): void {
    for (const listener of this.#listeners) {
      const fn = listener[name] as ((...a: unknown[]) => void) | undefined;
      if (!fn) continue;
      try {
        fn.apply(listener, args);
      } catch (error) {
        this.#log.error(`control plane listener ${name} threw`, { error });
      }
    }
  }

  #sendSequenced(
    agentId: string,
    kind: "job" | "cancel" | "grant",
    jobId: string,
    build: (seq: number) => ControllerMessage,
  ): void {
    let message = create(ControllerMessageSchema);
    const seq = this.#store.appendControllerMessage({ agentId, kind, jobId }, (next) => {
      message = build(next);
      return toBinary(ControllerMessageSchema, message);
    });
    const session = this.#sessions.get(agentId);
    if (session?.helloDone) {
      session.maxSentControllerSeq = Math.max(session.maxSentControllerSeq, seq);
      session.queue.push(message);
    }
  }

  #authenticate(context: HandlerContext) {
    const header = context.requestHeader.get("authorization") ?? "";
    const match = /^Bearer (\S+)$/.exec(header);
    if (!match?.[1]) {
      throw new ConnectError(
        'missing "authorization: Bearer <session credential>" metadata; enrol first to get a credential',
        Code.Unauthenticated,
      );
    }
    const credential = match[1];
    const agent = looksLikeSecret(credential, sessionCredentialPrefix)
      ? this.#store.agentByCredentialHash(hashSecret(credential))
      : undefined;
    if (!agent)
      throw new ConnectError(
        "unknown session credential; enrol again with a new token",
        Code.Unauthenticated,
      );
    if (agent.status === "retired") {
      throw new ConnectError(
        `agent ${agent.agentId} was retired; enrol again with a new token`,
        Code.PermissionDenied,
      );
    }
    return agent;
  }

  async *#session(
    requests: AsyncIterable<AgentMessage>,
    context: HandlerContext,
  ): AsyncGenerator<ControllerMessage> {
    if (this.#closed) throw new ConnectError("controller shutting down; reconnect later", Code.Unavailable);
    let agent: AgentRow;
    try {
      agent = this.#authenticate(context);
    } catch (error) {
      this.stats.sessionsRefused += 1;
      throw error;
    }
    const now = this.#now();
    const session: LiveSession = {
      id: this.#nextSessionId++,
      agentId: agent.agentId,
      podId: agent.podId,
      agentVersion: agent.agentVersion,
      queue: new OutgoingQueue<ControllerMessage>(),
      connectedAtMs: now,
      lastSeenMs: now,
      state: AgentState.UNSPECIFIED,
      helloDone: false,
      sessionSeq: 0,
      storedSeq: 0,
      maxSentControllerSeq: 0,
      buckets: this.#bucketsOf(agent.agentId, now),
      lastHeartbeatSentMs: 0,
      timers: [],
      abort: new AbortController(),
    };
    const previous = this.#sessions.get(agent.agentId);
    if (previous) {
      this.#log.info("a newer session replaces the old one", { agentId: agent.agentId });
      previous.queue.fail(new ConnectError("replaced by a newer session of the same agent", Code.Aborted));
    }
    this.#sessions.set(agent.agentId, session);
    this.stats.sessionsOpened += 1;
    const lost = this.#lostTimers.get(agent.agentId);
    if (lost) clearTimeout(lost);
    this.#lostTimers.delete(agent.agentId);

    const onAbort = () => session.queue.fail(new ConnectError("stream closed", Code.Canceled));
    context.signal.addEventListener("abort", onAbort, { once: true });
    session.timers.push(
      setInterval(() => this.#tick(session), Math.max(1, Math.min(this.#intervalMs, this.#deadlineMs / 4))),
    );
    const reading = this.#read(session, requests);
    try {
      yield* session.queue;
    } finally {
      context.signal.removeEventListener("abort", onAbort);
      session.abort.abort();
      for (const t of session.timers) clearInterval(t);
      session.queue.fail(new ConnectError("session ended", Code.Canceled));
      // Not awaited: the reader may be parked on a request the peer never sends; it ends when
      // the stream is torn down and ignores anything after the abort above.
      reading.catch(() => {});
      this.#sessionEnded(session);
    }
  }

  #bucketsOf(agentId: string, nowMs: number): AgentBuckets {
    let buckets = this.#buckets.get(agentId);
    if (!buckets) {
      const l = this.#limits;
      buckets = {
        messages: new TokenBucket({ ratePerSecond: l.messagesPerSecond, burst: l.messageBurst, nowMs }),
        bytes: new TokenBucket({ ratePerSecond: l.eventBytesPerSecond, burst: l.eventByteBurst, nowMs }),
      };
      this.#buckets.set(agentId, buckets);
    }
    return buckets;
  }

  #tick(session: LiveSession): void {
    const now = this.#now();
    if (now - session.lastSeenMs > this.#deadlineMs) {
      this.#log.warn("agent missed its heartbeat deadline", { agentId: session.agentId });
      session.queue.fail(
        new ConnectError(
          `no message from agent ${session.agentId} for ${now - session.lastSeenMs} ms (heartbeat deadline ${this.#deadlineMs} ms); reconnect`,
          Code.DeadlineExceeded,
        ),
      );
      return;
    }
    if (session.helloDone && now - session.lastHeartbeatSentMs >= this.#intervalMs) {
      session.lastHeartbeatSentMs = now;
      session.queue.push(
        create(ControllerMessageSchema, {
          kind: { case: "heartbeat", value: { sentAtUnixMs: BigInt(now) } },
        }),
      );
    }
  }

  async #read(session: LiveSession, requests: AsyncIterable<AgentMessage>): Promise<void> {
    try {
      for await (const message of requests) {
        if (session.abort.signal.aborted) return;
        const now = this.#now();
        // Over its message rate, the agent waits: the stream is not read meanwhile, so HTTP/2
        // flow control pushes back on it, and nothing is dropped. Each event of a batch counts
        // as a message, so batching changes the cost, not the limit.
        const units = message.kind.case === "events" ? Math.max(1, message.kind.value.events.length) : 1;
        const wait = session.buckets.messages.take(units, now);
        if (wait > 0) {
          this.stats.throttledMs += wait;
          await new Promise((resolve) => setTimeout(resolve, wait));
        }
        session.lastSeenMs = this.#now();
        this.#lastSeen.set(session.agentId, session.lastSeenMs);
        const bytes = this.#handle(session, message);
        // Over its byte rate (what it costs to decode and keep), the same.
        const byteWait = bytes > 0 ? session.buckets.bytes.take(bytes, this.#now()) : 0;
        if (byteWait > 0) {
          this.stats.throttledMs += byteWait;
          await new Promise((resolve) => setTimeout(resolve, byteWait));
        }
      }
      session.queue.end();
    } catch (error) {
      const connectError = malformedToInvalidArgument(toConnectError(error));
      if (connectError.code !== Code.Canceled) {
        this.#log.warn("session ended by a bad message or a broken stream", {
          agentId: session.agentId,
          error: connectError.message,
        });
      }
      session.queue.fail(connectError);
    }
  }

  /** Handles one message; returns the bytes it costs the agent's byte quota. */
  #handle(session: LiveSession, message: AgentMessage): number {
    const kind = message.kind;
    const unknown = unknownBytes(message, typeof kind.value === "object" ? kind.value : undefined);
    if (!session.helloDone) {
      if (kind.case !== "hello") {
        throw new CacheonError(
          "invalid-argument",
          `the first message of a session must be a Hello (got ${kind.case ?? "an empty message"})`,
        );
      }
      this.#hello(session, kind.value);
      return unknown;
    }
    switch (kind.case) {
      case "hello":
        throw new CacheonError(
          "invalid-argument",
          "a second Hello on one session; open a new session instead",
        );
      case "heartbeat":
        session.state = kind.value.state;
        return unknown;
      case "ack": {
        const seq = Number(kind.value);
        if (seq < 1 || seq > session.maxSentControllerSeq) {
          throw new CacheonError(
            "invalid-argument",
            `ack ${seq} for a controller message never sent (highest sent: ${session.maxSentControllerSeq})`,
          );
        }
        this.#store.ackControllerMessages(session.agentId, seq);
        return unknown;
      }
      case "event":
        return unknown + this.#event(session, kind.value);
      case "events": {
        const events = kind.value.events;
        if (events.length === 0 || events.length > this.#limits.maxEventsPerBatch) {
          throw new CacheonError(
            "invalid-argument",
            `an event batch of ${events.length} events; send 1 to ${this.#limits.maxEventsPerBatch} (Welcome.max_event_batch)`,
          );
        }
        let bytes = unknown;
        for (const event of events) bytes += this.#event(session, event);
        return bytes;
      }
      default:
        throw new CacheonError("invalid-argument", "an AgentMessage with no kind set");
    }
  }

  #hello(session: LiveSession, hello: Hello): void {
    if (hello.agentId !== session.agentId) {
      throw new CacheonError(
        "permission-denied",
        `Hello names agent ${hello.agentId || "(empty)"} but the credential belongs to ${session.agentId}`,
      );
    }
    const tooOld = agentVersionProblem(hello.agentVersion, this.#minAgentVersion);
    if (tooOld) {
      this.#log.warn("agent refused for its version", {
        agentId: session.agentId,
        version: hello.agentVersion,
      });
      throw new CacheonError("failed-precondition", tooOld);
    }
    session.helloDone = true;
    session.agentVersion = hello.agentVersion || session.agentVersion;
    // What an earlier session of this agent sent is committed first, so the last seq is exact.
    this.#commit();
    session.storedSeq = this.#events.lastSeq(session.agentId);
    const now = this.#now();
    session.queue.push(
      create(ControllerMessageSchema, {
        kind: {
          case: "welcome",
          value: {
            lastAgentSeq: BigInt(session.storedSeq),
            heartbeatIntervalMs: this.#intervalMs,
            heartbeatDeadlineMs: this.#deadlineMs,
            maxEventBatch: this.#limits.maxEventsPerBatch,
            maxEventBatchBytes: this.#limits.maxMessageBytes,
          },
        },
      }),
    );
    session.lastHeartbeatSentMs = now;
    const processed = Number(hello.lastControllerSeq);
    if (processed > 0) this.#store.ackControllerMessages(session.agentId, processed);
    // After that ack every message still unacknowledged is after `processed`: one read serves
    // both the resending and the jobs those messages name.
    const unacknowledged = this.#store.pendingControllerMessages(session.agentId, processed);
    for (const row of unacknowledged) {
      session.maxSentControllerSeq = Math.max(session.maxSentControllerSeq, row.seq);
      session.queue.push(fromBinary(ControllerMessageSchema, row.message));
    }
    session.maxSentControllerSeq = Math.max(session.maxSentControllerSeq, processed);
    const { cancelResuming, handBack } = decideResume({
      agentId: session.agentId,
      resumingJobId: hello.resumingJobId,
      resumingJob: hello.resumingJobId ? this.#store.job(hello.resumingJobId) : undefined,
      openJobIds: this.#store.openJobs(session.agentId),
      unacknowledgedJobIds: new Set(unacknowledged.map((r) => r.jobId)),
    });
    if (cancelResuming)
      session.queue.push(
        create(ControllerMessageSchema, {
          kind: { case: "cancel", value: { seq: 0n, jobId: hello.resumingJobId, reason: cancelResuming } },
        }),
      );
    if (handBack.length > 0) this.#handBack(session.agentId, handBack, "the agent came back without them");
    this.#log.info("session open", { agentId: session.agentId, lastAgentSeq: session.storedSeq });
    this.#emit("sessionChanged", session.agentId, true);
  }

  /**
   * Handles one event; returns the bytes it costs (as stored, plus any unknown fields dropped).
   * The event joins the pending batch: it is committed to the event log with the others that
   * arrived in this turn of the event loop, and acknowledged only after that commit (never
   * before it is on disk). An event that moves a job or an artefact on is committed at once,
   * before it acts, as are the events before it.
   */
  #event(session: LiveSession, event: AgentEvent): number {
    const seq = Number(event.seq);
    const verdict = classifySeq(seq, { storedSeq: session.storedSeq, sessionSeq: session.sessionSeq });
    session.sessionSeq = seq;
    const unknown = unknownBytes(event, event.payload.value);
    if (verdict === "duplicate") {
      this.stats.duplicatesDropped += 1;
      this.#owe(session);
      return unknown;
    }
    validateEventPayload(event, this.#limits);
    const jobId = eventJobId(event);
    if (jobId && this.#jobAgent(jobId) !== session.agentId) {
      throw new CacheonError(
        "invalid-argument",
        `event ${seq} is about job ${jobId}, which was never assigned to this agent`,
      );
    }
    const agentId = session.agentId;
    // Only what this controller understands is kept: unknown fields (padding, a newer agent's
    // additions) are dropped before anything is stored.
    const bytes = toBinary(AgentEventSchema, event, { writeUnknownFields: false });
    this.stats.unknownBytesDropped += unknown;
    const p = event.payload;
    const kind = p.case ?? "";
    const acts = essential.has(kind);
    // Over its stored-bytes quota an agent's events are acknowledged but not kept, except those
    // that move a job or an artefact on (one per job or artefact the controller named).
    const storedBytes = this.#events.storedBytes(agentId) + this.#pending.bytesOf(agentId);
    if (
      storedBytes + bytes.byteLength > this.#limits.maxStoredEventBytesPerAgent &&
      !(acts && this.#movesOn(event, this.#store.job(jobId)?.state))
    ) {
      this.#pending.skip(agentId, seq);
      if (this.stats.eventsOverQuota++ % 1000 === 0)
        this.#log.warn("an agent is over its event quota; its events are acknowledged but not stored", {
          agentId,
          storedBytes,
          quota: this.#limits.maxStoredEventBytesPerAgent,
        });
    } else {
      this.#pending.store({
        agentId,
        seq,
        atMs: Number(event.atUnixMs),
        receivedAtMs: this.#now(),
        kind,
        jobId,
        event: bytes,
      });
    }
    session.storedSeq = seq;
    this.#pending.accepted.push({ agentId, event });
    this.#owe(session);
    if (!acts) return bytes.byteLength + unknown;
    // Stored before it acts, as the events before it.
    this.#commit();
    if (p.case === "jobFinished" && p.value.result) {
      this.#finishJob(
        agentId,
        jobId,
        "finished",
        toBinary(JobFinishedSchema, p.value, { writeUnknownFields: false }),
      );
      this.#emit("jobFinished", agentId, p.value.result);
    } else if (p.case === "jobFailed") {
      this.#finishJob(
        agentId,
        jobId,
        "failed",
        toBinary(JobFailedSchema, p.value, { writeUnknownFields: false }),
      );
      this.#emit("jobFailed", agentId, p.value);
    } else if (p.case === "artefactReady") {
      this.#artefacts.ready(agentId, p.value, this.#store.job(jobId)?.state);
    } else if (p.case === "artefact") {
      this.#artefacts.uploaded(agentId, p.value);
    }
    return bytes.byteLength + unknown;
  }

  /** The agent a job was sent to, "" for a job never sent. */
  #jobAgent(jobId: string): string {
    let agentId = this.#jobAgents.get(jobId);
    if (agentId === undefined) {
      agentId = this.#store.job(jobId)?.agentId ?? "";
      // Jobs sent long ago are looked up again rather than kept forever.
      if (this.#jobAgents.size >= 10_000) this.#jobAgents.clear();
      if (agentId) this.#jobAgents.set(jobId, agentId);
    }
    return agentId;
  }

  /** The session is owed an ack at the next commit, which is scheduled. */
  #owe(session: LiveSession): void {
    this.#pending.sessions.add(session);
    if (this.#pending.rows.length >= maxPendingEvents) this.#commit();
    else if (!this.#commitScheduled) {
      this.#commitScheduled = true;
      setImmediate(() => {
        this.#commitScheduled = false;
        this.#commitQuietly();
      });
    }
  }

  /**
   * Commits the pending events in one transaction, then acknowledges them to their sessions and
   * announces them to listeners. When the commit fails nothing of it is stored: the sessions that
   * sent it are ended (their agents resend it) and the error is thrown.
   */
  #commit(): void {
    const batch = this.#pending;
    if (batch.empty) return;
    this.#pending = new PendingEvents();
    try {
      this.stats.eventsStored += this.#events.appendBatch(batch.rows, batch.skipped);
    } catch (error) {
      const failure = new ConnectError(
        `the controller could not store events: ${(error as Error).message}; reconnect and resend`,
        Code.Unavailable,
      );
      for (const session of batch.sessions) session.queue.fail(failure);
      throw new CacheonError("unavailable", "the agents' event log refused a write; its agents resend", {
        cause: error,
      });
    }
    // Every event a session had accepted is in this batch, so its last accepted seq is stored.
    for (const session of batch.sessions) session.queue.setAck(ackMessage(session.storedSeq));
    for (const { agentId, event } of batch.accepted) this.#emit("event", agentId, event);
  }

  #commitQuietly(): void {
    try {
      this.#commit();
    } catch (error) {
      this.#log.error("agent events not stored; their sessions were ended so the agents resend them", {
        error,
      });
    }
  }

  /** True for an event that moves a job or an artefact to its next state (kept whatever the quota). */
  #movesOn(event: AgentEvent, jobState: string | undefined): boolean {
    const p = event.payload;
    if (p.case === "jobFinished" || p.case === "jobFailed") return jobState === "assigned";
    if (p.case === "artefactReady" || p.case === "artefact") {
      const row = this.#store.artefact(p.value.jobId, p.value.name);
      return p.case === "artefactReady"
        ? row?.state === "allowed" || row?.state === "granted"
        : row?.state === "granted";
    }
    return false;
  }

  #finishJob(agentId: string, jobId: string, state: "finished" | "failed", outcome: Uint8Array): void {
    const job = this.#store.job(jobId);
    // A job already cancelled or handed back keeps that state; its late outcome is not kept. Only
    // the first outcome of a job counts: a second JobFinished changes nothing.
    if (job?.state !== "assigned") return;
    this.#store.putJobOutcome(jobId, state === "finished" ? "jobFinished" : "jobFailed", outcome);
    this.#store.setJob(jobId, agentId, state, this.#now());
  }

  #sessionEnded(session: LiveSession): void {
    if (this.#sessions.get(session.agentId) !== session) return;
    this.#sessions.delete(session.agentId);
    if (session.helloDone) this.#emit("sessionChanged", session.agentId, false);
    if (this.#closed) return;
    this.#armLostTimer(session.agentId, this.#lastSeen.get(session.agentId) ?? session.lastSeenMs);
  }

  #armLostTimer(agentId: string, lastSeenMs: number): void {
    const delay = Math.max(0, lastSeenMs + this.#deadlineMs - this.#now());
    const timer = setTimeout(() => {
      this.#lostTimers.delete(agentId);
      if (this.#sessions.has(agentId)) return;
      const open = this.#store.openJobs(agentId);
      this.#log.warn("agent lost", { agentId, openJobs: open });
      this.#emit("agentLost", agentId, open);
      if (open.length > 0) this.#handBack(agentId, open, "the agent was lost");
    }, delay);
    timer.unref();
    this.#lostTimers.set(agentId, timer);
  }

  #handBack(agentId: string, jobIds: string[], why: string): void {
    for (const jobId of jobIds) this.#store.setJob(jobId, agentId, "lost", this.#now());
    this.#log.warn("jobs handed back to the scheduler", { agentId, jobIds, why });
    this.#emit("jobsReturned", agentId, jobIds, why);
  }
}

/**
 * connect-es reports a message that fails to decode as INTERNAL; to the peer it is a malformed
 * message (its fault, not ours), so it gets INVALID_ARGUMENT with the decoder's reason.
 */
function malformedToInvalidArgument(error: ConnectError): ConnectError {
  if (error.code === Code.Internal && /parse|premature EOF|wire type|invalid/i.test(error.rawMessage)) {
    return new ConnectError(
      `malformed AgentMessage: ${error.rawMessage}`,
      Code.InvalidArgument,
      undefined,
      undefined,
      error,
    );
  }
  return error;
}

/** Bytes of unknown protobuf fields at the top of these messages (what an agent padded them with). */
function unknownBytes(...messages: (object | undefined)[]): number {
  let bytes = 0;
  for (const m of messages)
    for (const field of (m as { $unknown?: { data: Uint8Array }[] } | undefined)?.$unknown ?? [])
      bytes += field.data.byteLength;
  return bytes;
}

function ackMessage(seq: number): ControllerMessage {
  return create(ControllerMessageSchema, { kind: { case: "ack", value: BigInt(seq) } });
}
