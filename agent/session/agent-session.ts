import { create } from "@bufbuild/protobuf";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import {
  type AgentMessage,
  AgentMessageSchema,
  AgentState,
  type ControllerMessage,
  JobFailedSchema,
  JobFinishedSchema,
} from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import type { EvaluationJob } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import { type BackoffOptions, backoffDelay, resolveBackoff, sleep } from "../../shared/retry/backoff.ts";
import { cacheonErrorFromRpc, retryDecision } from "../../shared/retry/retryable.ts";
import type { JobExecutor } from "../job/job-executor.ts";
import type { AgentStateStore } from "./agent-state-store.ts";
import { agentVersion } from "./agent-version.ts";
import { withArtefactUploads } from "./artefact-uploads.ts";
import { type AgentCredential, type ControllerEndpoint, connectToController } from "./controller-client.ts";
import { type EventBatchLimits, nextEventMessage } from "./event-batch.ts";
import { EventOutbox } from "./event-outbox.ts";
import { UploadGrants } from "./upload-grants.ts";

/** Options of {@link runAgentSession}. */
export interface AgentSessionOptions {
  /** Where the controller is. */
  endpoint: ControllerEndpoint;
  /** From enrolment. */
  credential: AgentCredential;
  /** Runs each job the controller assigns. */
  executor: JobExecutor;
  /** Stops the session: the running job is cancelled and the loop returns. */
  signal: AbortSignal;
  /** Sent in Hello; the controller refuses versions below its minimum. @default the build's (agent-version.ts) */
  agentVersion?: string;
  /** Reconnect backoff (tests pass 1 ms delays). @default resolveBackoff() defaults */
  backoff?: BackoffOptions;
  /** Outbox of events; pass one to inspect it or to continue a sequence. @default one on `state` */
  outbox?: EventOutbox;
  /**
   * What survives a restart (AgentStateStore beside the credential): the outbox and its sequence,
   * the last controller message processed, and the job in progress. A job found in progress at
   * start was interrupted by a crash: it is reported failed (retryable, no arm blamed) before the
   * session opens. @default nothing kept: a restart starts a new sequence
   */
  state?: SessionState;
  /** @default silentLogger */
  logger?: Logger;
  /** Called when a session is welcomed (for progress output and tests). */
  onConnected?: (info: { attempt: number; lastAgentSeq: number }) => void;
  /** Called when a session ends and the agent will reconnect. */
  onDisconnected?: (info: { error: CacheonError; retryInMs: number }) => void;
}

/** The part of AgentStateStore the session uses. */
export type SessionState = Pick<
  AgentStateStore,
  | "loadOutbox"
  | "appendEvent"
  | "ackEvents"
  | "lastControllerSeq"
  | "setLastControllerSeq"
  | "runningJob"
  | "setRunningJob"
>;

interface RunningJob {
  job: EvaluationJob;
  abort: AbortController;
  done: Promise<void>;
}

/**
 * The agent's dial-out loop: opens a session, sends Hello, resends unacknowledged events, streams
 * new ones, answers heartbeats, runs assigned jobs through the executor and reconnects with
 * exponential backoff and jitter when the connection drops. Jobs keep running while disconnected;
 * their events wait in the outbox. Returns when `signal` aborts; throws a CacheonError when the
 * controller refuses the agent for a reason retrying cannot fix (see shared/retry/retryable.ts).
 */
export async function runAgentSession(options: AgentSessionOptions): Promise<void> {
  const log = options.logger ?? silentLogger;
  const backoff = resolveBackoff(options.backoff);
  const saved = options.state;
  const outbox = options.outbox ?? new EventOutbox(saved ? { store: saved } : {});
  const grants = new UploadGrants();
  const state = {
    lastControllerSeq: saved?.lastControllerSeq() ?? 0,
    running: undefined as RunningJob | undefined,
    agentState: AgentState.IDLE as AgentState,
    persistSeq(seq: number) {
      this.lastControllerSeq = seq;
      saved?.setLastControllerSeq(seq);
    },
  };
  let storeWarned = false;
  const interrupted = saved?.runningJob();
  if (interrupted) {
    log.warn("a job was interrupted by an agent restart; reporting it failed", { jobId: interrupted.jobId });
    outbox.add({
      case: "jobFailed",
      value: create(JobFailedSchema, {
        jobId: interrupted.jobId,
        reason: `the agent restarted while running the job (started ${new Date(interrupted.startedAtMs).toISOString()}; killed or rebooted): an infrastructure failure, no arm is to blame; its containers were removed, run it again`,
        retryable: true,
      }),
    });
    saved?.setRunningJob(undefined);
  }

  const startJob = (job: EvaluationJob) => {
    if (state.running) {
      outbox.add({
        case: "jobFailed",
        value: create(JobFailedSchema, {
          jobId: job.jobId,
          reason: `agent busy with job ${state.running.job.jobId}`,
          retryable: true,
        }),
      });
      return;
    }
    const abort = new AbortController();
    const onStop = () => abort.abort(new CacheonError("cancelled", "agent shutting down"));
    options.signal.addEventListener("abort", onStop, { once: true });
    state.agentState = AgentState.MEASURING;
    saved?.setRunningJob({ jobId: job.jobId, startedAtMs: Date.now() });
    const done = (async () => {
      try {
        const result = await withArtefactUploads(options.executor, { logger: log, grants })(job, {
          signal: abort.signal,
          emit: (payload) => void outbox.add(payload),
        });
        outbox.add({ case: "jobFinished", value: create(JobFinishedSchema, { result }) });
      } catch (error) {
        const err = CacheonError.from(error);
        log.warn("job failed", { jobId: job.jobId, error: err });
        outbox.add({
          case: "jobFailed",
          value: create(JobFailedSchema, {
            jobId: job.jobId,
            reason: err.message,
            // An agent shutting down is the pod's business, not the job's: it may run elsewhere.
            retryable:
              options.signal.aborted || (err.code !== "cancelled" && err.code !== "invalid-argument"),
          }),
        });
      } finally {
        saved?.setRunningJob(undefined);
        if (outbox.storeFailure && !storeWarned) {
          storeWarned = true;
          log.error(
            "the agent's state cannot be written: events of this session are lost if the agent restarts",
            {
              error: outbox.storeFailure,
            },
          );
        }
        options.signal.removeEventListener("abort", onStop);
        state.running = undefined;
        state.agentState = AgentState.IDLE;
      }
    })();
    state.running = { job, abort, done };
  };

  let attempt = 0;
  try {
    while (!options.signal.aborted) {
      let welcomed = false;
      try {
        await connectOnce({
          ...options,
          log,
          outbox,
          state,
          startJob,
          grants,
          onWelcome: (lastAgentSeq) => {
            welcomed = true;
            options.onConnected?.({ attempt, lastAgentSeq });
            attempt = 0;
          },
        });
        if (options.signal.aborted) break;
        throw new CacheonError("unavailable", "the controller ended the session");
      } catch (error) {
        if (options.signal.aborted) break;
        const err = cacheonErrorFromRpc(error, "session with the controller");
        const decision = retryDecision(err);
        if (!decision.retryable) {
          log.error("controller refused the session; not retrying", { error: err, why: decision.reason });
          throw err;
        }
        if (welcomed) attempt = 0;
        const delay = backoffDelay(attempt, backoff);
        attempt += 1;
        log.warn("session lost; reconnecting", {
          error: err.message,
          retryInMs: delay,
          unacked: outbox.size,
        });
        options.onDisconnected?.({ error: err, retryInMs: delay });
        await sleep(delay, options.signal).catch(() => {});
      }
    }
  } finally {
    state.running?.abort.abort(new CacheonError("cancelled", "agent shutting down"));
    await state.running?.done;
  }
}

interface ConnectOnceOptions extends Omit<AgentSessionOptions, "state"> {
  log: Logger;
  outbox: EventOutbox;
  state: {
    lastControllerSeq: number;
    running: RunningJob | undefined;
    agentState: AgentState;
    persistSeq(seq: number): void;
  };
  startJob: (job: EvaluationJob) => void;
  grants: UploadGrants;
  onWelcome: (lastAgentSeq: number) => void;
}

/** One session: runs until the stream ends or fails, then closes its connection. */
async function connectOnce(options: ConnectOnceOptions): Promise<void> {
  const { outbox, state, credential } = options;
  const connection = connectToController(options.endpoint);
  const abort = new AbortController();
  const onStop = () => abort.abort();
  options.signal.addEventListener("abort", onStop, { once: true });
  const control: AgentMessage[] = [];
  let wake: (() => void) | undefined;
  const poke = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  let welcome: ((lastAgentSeq: number) => void) | undefined;
  const welcomed = new Promise<number>((resolve) => {
    welcome = resolve;
  });
  const unsubscribe = outbox.subscribe(poke);
  abort.signal.addEventListener("abort", () => welcome?.(-1), { once: true });
  let intervalMs = credential.heartbeatIntervalMs || 5000;
  let deadlineMs = credential.heartbeatDeadlineMs || 20_000;
  let lastHeard = Date.now();
  let deadlineError: CacheonError | undefined;
  let batchLimits: EventBatchLimits = { maxEvents: 1, maxBytes: 0 };

  async function* outgoing(): AsyncGenerator<AgentMessage> {
    yield create(AgentMessageSchema, {
      kind: {
        case: "hello",
        value: {
          agentId: credential.agentId,
          agentVersion: options.agentVersion ?? agentVersion,
          lastControllerSeq: BigInt(state.lastControllerSeq),
          // A job that ended while the controller was away is still ours until its outcome,
          // resent below, is stored: the controller must not take it for forgotten.
          resumingJobId: state.running?.job.jobId ?? outbox.unreportedJobId() ?? "",
        },
      },
    });
    let cursor = await welcomed;
    if (cursor < 0) return;
    outbox.ack(cursor);
    while (!abort.signal.aborted) {
      const next = control.shift();
      if (next) {
        yield next;
        continue;
      }
      // The backlog goes in batches when the controller takes them (one message, not one each).
      const events = outbox.upTo(cursor, batchLimits.maxEvents);
      if (events.length > 0) {
        const { message, count } = nextEventMessage(events, batchLimits);
        cursor = Number(events[count - 1]?.seq);
        yield message;
        continue;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  }

  const send = (message: AgentMessage) => {
    control.push(message);
    poke();
  };

  const timer = setInterval(
    () => {
      if (Date.now() - lastHeard > deadlineMs) {
        deadlineError = new CacheonError(
          "deadline-exceeded",
          `no message from the controller for ${Date.now() - lastHeard} ms (deadline ${deadlineMs} ms)`,
        );
        abort.abort(deadlineError);
        return;
      }
      send(
        create(AgentMessageSchema, {
          kind: {
            case: "heartbeat",
            value: {
              sentAtUnixMs: BigInt(Date.now()),
              state: state.agentState,
              jobId: state.running?.job.jobId ?? "",
            },
          },
        }),
      );
    },
    Math.max(1, Math.min(intervalMs, deadlineMs / 4)),
  );

  try {
    const responses = connection.client.session(outgoing(), {
      signal: abort.signal,
      headers: { authorization: `Bearer ${credential.sessionCredential}` },
    });
    for await (const message of responses) {
      lastHeard = Date.now();
      handle(message);
    }
  } catch (error) {
    if (deadlineError) throw deadlineError;
    throw error;
  } finally {
    clearInterval(timer);
    unsubscribe();
    options.signal.removeEventListener("abort", onStop);
    abort.abort();
    poke();
    connection.close();
  }

  /** Acknowledges a sequenced controller message; true the first time it is seen. */
  function accept(seqValue: bigint): boolean {
    const seq = Number(seqValue);
    const fresh = seq > state.lastControllerSeq;
    // Persisted before the ack: a restart after the ack must not take the message again.
    if (fresh) state.persistSeq(seq);
    send(create(AgentMessageSchema, { kind: { case: "ack", value: seqValue } }));
    return fresh;
  }

  function handle(message: ControllerMessage): void {
    const kind = message.kind;
    switch (kind.case) {
      case "welcome": {
        intervalMs = kind.value.heartbeatIntervalMs || intervalMs;
        deadlineMs = kind.value.heartbeatDeadlineMs || deadlineMs;
        batchLimits = {
          maxEvents: Math.max(1, kind.value.maxEventBatch),
          maxBytes: kind.value.maxEventBatchBytes,
        };
        const last = Number(kind.value.lastAgentSeq);
        welcome?.(last);
        options.onWelcome(last);
        options.log.info("session open", { lastAgentSeq: last, unacked: outbox.size });
        return;
      }
      case "ack":
        outbox.ack(Number(kind.value));
        return;
      case "heartbeat":
        return;
      case "job":
        if (accept(kind.value.seq) && kind.value.job) options.startJob(kind.value.job);
        return;
      case "uploadGrant":
        if (accept(kind.value.seq)) options.grants.deliver(kind.value);
        return;
      case "cancel": {
        const seq = Number(kind.value.seq);
        if (seq > 0) {
          if (seq <= state.lastControllerSeq) return;
          state.persistSeq(seq);
          send(create(AgentMessageSchema, { kind: { case: "ack", value: BigInt(seq) } }));
        }
        const running = state.running;
        if (running && running.job.jobId === kind.value.jobId) {
          options.log.info("job cancelled by the controller", {
            jobId: kind.value.jobId,
            reason: kind.value.reason,
          });
          running.abort.abort(
            new CacheonError("cancelled", `cancelled by the controller: ${kind.value.reason}`),
          );
        }
        return;
      }
      default:
        return;
    }
  }
}
