import type { AgentEvent } from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import type { EventRow } from "./event-log.ts";

/**
 * Events accepted from agents since the last commit to the event log: written together in one
 * transaction (once per turn of the event loop, or sooner when many are waiting), and only then
 * acknowledged to the sessions that sent them and announced to listeners. `S` is the session.
 */
export class PendingEvents<S> {
  /** Events to store, in the order they were accepted. */
  readonly rows: EventRow[] = [];
  /** Per agent, the highest seq accepted without storing it (over its quota). */
  readonly skipped = new Map<string, number>();
  /** Sessions owed an acknowledgement once the batch is committed. */
  readonly sessions = new Set<S>();
  /** Accepted events, in order, to announce to listeners once committed. */
  readonly accepted: { agentId: string; event: AgentEvent }[] = [];
  readonly #bytes = new Map<string, number>();

  /** Queues an event to store; its bytes count against the agent's quota at once. */
  store(row: EventRow): void {
    this.rows.push(row);
    this.#bytes.set(row.agentId, this.bytesOf(row.agentId) + row.event.byteLength);
  }

  /** Queues an accepted event that is not stored (only its seq is kept). */
  skip(agentId: string, seq: number): void {
    this.skipped.set(agentId, Math.max(seq, this.skipped.get(agentId) ?? 0));
  }

  /** Bytes of an agent's events queued to store. */
  bytesOf(agentId: string): number {
    return this.#bytes.get(agentId) ?? 0;
  }

  /** True when nothing waits to be committed or acknowledged. */
  get empty(): boolean {
    return this.sessions.size === 0 && this.rows.length === 0 && this.skipped.size === 0;
  }
}
