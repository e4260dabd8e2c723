import { create, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  type AgentEvent,
  AgentEventSchema,
  AgentMessageSchema,
} from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import { nextEventMessage } from "./event-batch.ts";

const event = (seq: number, message = "") =>
  create(AgentEventSchema, {
    seq: BigInt(seq),
    atUnixMs: 1_700_000_000_000n,
    payload: { case: "progress", value: { jobId: "job-1", phase: "measure", done: seq, message } },
  });
const events = (n: number, message = "") => Array.from({ length: n }, (_, i) => event(i + 1, message));
const size = (m: Parameters<typeof toBinary<typeof AgentMessageSchema>>[1]) =>
  toBinary(AgentMessageSchema, m).byteLength;

describe("nextEventMessage: the agent's backlog in as few messages as the controller takes", () => {
  it.each([
    { what: "a controller that takes no batches", n: 5, limits: { maxEvents: 1, maxBytes: 0 }, count: 1 },
    { what: "a batch limit of 1", n: 5, limits: { maxEvents: 1, maxBytes: 1 << 20 }, count: 1 },
    { what: "one event waiting", n: 1, limits: { maxEvents: 1024, maxBytes: 1 << 20 }, count: 1 },
    {
      what: "the whole backlog within both limits",
      n: 50,
      limits: { maxEvents: 1024, maxBytes: 1 << 20 },
      count: 50,
    },
    { what: "the event limit", n: 50, limits: { maxEvents: 16, maxBytes: 1 << 20 }, count: 16 },
  ])("$what: $count of $n in one message", ({ n, limits, count }) => {
    const backlog = events(n);
    const next = nextEventMessage(backlog, limits);
    expect(next.count).toBe(count);
    const kind = next.message.kind;
    if (count === 1) {
      expect(kind.case).toBe("event");
      expect(kind.value).toBe(backlog[0]);
    } else {
      expect(kind.case).toBe("events");
      expect(kind.case === "events" && kind.value.events).toEqual(backlog.slice(0, count));
    }
  });

  it("fills the byte limit exactly: the encoded message fits and one more event would not", () => {
    const backlog = events(200, "x".repeat(100));
    for (const maxBytes of [300, 1000, 4096, 10_000]) {
      const next = nextEventMessage(backlog, { maxEvents: 1024, maxBytes });
      expect(next.message.kind.case).toBe("events");
      expect(size(next.message)).toBeLessThanOrEqual(maxBytes);
      const oneMore = create(AgentMessageSchema, {
        kind: { case: "events", value: { events: backlog.slice(0, next.count + 1) } },
      });
      expect(size(oneMore)).toBeGreaterThan(maxBytes);
    }
  });

  it("sends an event too large for any batch alone (the controller judges it as before)", () => {
    const backlog: AgentEvent[] = [event(1, "y".repeat(5000)), ...events(3)];
    const next = nextEventMessage(backlog, { maxEvents: 1024, maxBytes: 4096 });
    expect(next).toMatchObject({ count: 1, message: { kind: { case: "event" } } });
  });

  it("refuses an empty backlog", () => {
    expect(() => nextEventMessage([], { maxEvents: 8, maxBytes: 4096 })).toThrow(RangeError);
  });
});
