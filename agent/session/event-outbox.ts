import { create } from "@bufbuild/protobuf";
import { type AgentEvent, AgentEventSchema } from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import type { JobEventPayload } from "../job/job-executor.ts";

/** Where an outbox keeps its events across restarts (AgentStateStore implements it). */
export interface OutboxStore {
  loadOutbox(): { events: AgentEvent[]; nextSeq: number };
  appendEvent(event: AgentEvent): void;
  ackEvents(seq: number): void;
}

/**
 * The agent's sequenced, unacknowledged events. Every event gets the next seq (1, 2, 3, ...) and
 * stays here until the controller acknowledges it, so a reconnect resends exactly what the
 * controller has not stored. Seqs are contiguous, which makes lookups by seq O(1). With a store,
 * each event is written before it can be sent and the sequence continues after a restart.
 */
export class EventOutbox {
  readonly #pending: AgentEvent[] = [];
  readonly #listeners = new Set<() => void>();
  #nextSeq: number;
  readonly #now: () => number;
  readonly #store: OutboxStore | undefined;
  #storeFailure: Error | undefined;

  /**
   * `store` keeps events across restarts (its unacknowledged events are loaded and its sequence
   * continued); `firstSeq` continues a sequence without one; `now` is the clock.
   */
  constructor(options: { firstSeq?: number; now?: () => number; store?: OutboxStore } = {}) {
    this.#nextSeq = options.firstSeq ?? 1;
    this.#now = options.now ?? Date.now;
    this.#store = options.store;
    if (this.#store) {
      const saved = this.#store.loadOutbox();
      this.#pending.push(...saved.events);
      this.#nextSeq = Math.max(this.#nextSeq, saved.nextSeq);
    }
  }

  /** Sequences and queues a payload; returns the event. Never throws. */
  add(payload: JobEventPayload): AgentEvent {
    const event = create(AgentEventSchema, {
      seq: BigInt(this.#nextSeq++),
      atUnixMs: BigInt(this.#now()),
      payload,
    });
    this.#persist(() => this.#store?.appendEvent(event));
    this.#pending.push(event);
    for (const listener of this.#listeners) listener();
    return event;
  }

  /** Drops every event up to and including `seq` (the controller stored them). */
  ack(seq: number): void {
    const first = this.#firstSeq();
    if (first === undefined || seq < first) return;
    this.#pending.splice(0, Math.min(this.#pending.length, seq - first + 1));
    this.#persist(() => this.#store?.ackEvents(seq));
  }

  /**
   * The first failure to write the store (a full or read-only disk), if any. Events are still
   * queued and sent; only a restart would lose them, so the session logs it.
   */
  get storeFailure(): Error | undefined {
    return this.#storeFailure;
  }

  #persist(write: () => void): void {
    try {
      write();
    } catch (error) {
      this.#storeFailure ??= error as Error;
    }
  }

  /** The first unacknowledged event with seq > `seq`, if any. */
  after(seq: number): AgentEvent | undefined {
    const first = this.#firstSeq();
    if (first === undefined) return undefined;
    return this.#pending[Math.max(0, seq + 1 - first)];
  }

  /** Up to `max` unacknowledged events with seq > `seq`, oldest first. */
  upTo(seq: number, max: number): AgentEvent[] {
    const first = this.#firstSeq();
    if (first === undefined) return [];
    const start = Math.max(0, seq + 1 - first);
    return this.#pending.slice(start, start + Math.max(1, max));
  }

  /** Calls `listener` after each added event; returns a function that unsubscribes it. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * The job whose outcome (JobFinished or JobFailed) is still unacknowledged, the latest if
   * several: the agent holds that job until the controller has stored how it ended.
   */
  unreportedJobId(): string | undefined {
    for (let i = this.#pending.length - 1; i >= 0; i--) {
      const payload = this.#pending[i]?.payload;
      if (payload?.case === "jobFinished") return payload.value.result?.jobId;
      if (payload?.case === "jobFailed") return payload.value.jobId;
    }
    return undefined;
  }

  /** Unacknowledged events. */
  get size(): number {
    return this.#pending.length;
  }

  /** Seq the next event will get. */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  #firstSeq(): number | undefined {
    const head = this.#pending[0];
    return head ? Number(head.seq) : undefined;
  }
}
