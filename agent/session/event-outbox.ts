import { create } from "@bufbuild/protobuf";
import { type AgentEvent, AgentEventSchema } from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import type { JobEventPayload } from "../job/job-executor.ts";

/**
 * The agent's sequenced, unacknowledged events. Every event gets the next seq (1, 2, 3, ...) and
 * stays here until the controller acknowledges it, so a reconnect resends exactly what the
 * controller has not stored. Seqs are contiguous, which makes lookups by seq O(1).
 */
export class EventOutbox {
  readonly #pending: AgentEvent[] = [];
  readonly #listeners = new Set<() => void>();
  #nextSeq: number;
  readonly #now: () => number;

  /** `firstSeq` continues a sequence (an agent that kept its state); `now` is the clock. */
  constructor(options: { firstSeq?: number; now?: () => number } = {}) {
    this.#nextSeq = options.firstSeq ?? 1;
    this.#now = options.now ?? Date.now;
  }

  /** Sequences and queues a payload; returns the event. Never throws. */
  add(payload: JobEventPayload): AgentEvent {
    const event = create(AgentEventSchema, {
      seq: BigInt(this.#nextSeq++),
      atUnixMs: BigInt(this.#now()),
      payload,
    });
    this.#pending.push(event);
    for (const listener of this.#listeners) listener();
    return event;
  }

  /** Drops every event up to and including `seq` (the controller stored them). */
  ack(seq: number): void {
    const first = this.#firstSeq();
    if (first === undefined || seq < first) return;
    this.#pending.splice(0, Math.min(this.#pending.length, seq - first + 1));
  }

  /** The first unacknowledged event with seq > `seq`, if any. */
  after(seq: number): AgentEvent | undefined {
    const first = this.#firstSeq();
    if (first === undefined) return undefined;
    return this.#pending[Math.max(0, seq + 1 - first)];
  }

  /** Calls `listener` after each added event; returns a function that unsubscribes it. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
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
