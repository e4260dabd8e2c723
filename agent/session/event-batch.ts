import { create, toBinary } from "@bufbuild/protobuf";
import {
  type AgentEvent,
  AgentEventSchema,
  type AgentMessage,
  AgentMessageSchema,
} from "../../shared/gen/cacheon/v1/agent_service_pb.ts";

/** What a controller accepts in one AgentEventBatch (its Welcome says); zeros: no batches. */
export interface EventBatchLimits {
  /** Most events in one batch. */
  maxEvents: number;
  /** Most bytes of the AgentMessage that carries the batch. */
  maxBytes: number;
}

/** Encoded sizes, computed once per event (an event is resent unchanged after a reconnect). */
const sizes = new WeakMap<AgentEvent, number>();

function encodedSize(event: AgentEvent): number {
  let size = sizes.get(event);
  if (size === undefined) {
    size = toBinary(AgentEventSchema, event).byteLength;
    sizes.set(event, size);
  }
  return size;
}

function varintLength(value: number): number {
  let length = 1;
  for (let v = value; v >= 0x80; v = Math.floor(v / 0x80)) length += 1;
  return length;
}

/**
 * The next message to send from `events` (unacknowledged, consecutive, oldest first, at least
 * one): as many of them as fit `limits` in one AgentEventBatch, or the first alone (also when it
 * does not fit a batch by itself, or the controller takes no batches). A backlog then costs the
 * controller one message per batch instead of one per event. Returns the message and how many
 * events it carries.
 */
export function nextEventMessage(
  events: readonly AgentEvent[],
  limits: EventBatchLimits,
): { message: AgentMessage; count: number } {
  const first = events[0];
  if (!first) throw new RangeError("nextEventMessage needs at least one event");
  let count = 0;
  let batchBytes = 0;
  for (const event of events.slice(0, limits.maxEvents)) {
    const size = encodedSize(event);
    const withEvent = batchBytes + 1 + varintLength(size) + size;
    // AgentMessage { events = 5 } is a tag, a length and the batch.
    if (1 + varintLength(withEvent) + withEvent > limits.maxBytes) break;
    batchBytes = withEvent;
    count += 1;
  }
  if (count < 2)
    return { message: create(AgentMessageSchema, { kind: { case: "event", value: first } }), count: 1 };
  return {
    message: create(AgentMessageSchema, {
      kind: { case: "events", value: { events: events.slice(0, count) } },
    }),
    count,
  };
}
