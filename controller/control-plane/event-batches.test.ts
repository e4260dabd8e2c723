// Events are stored in one transaction per turn of the event loop and acknowledged only after
// that commit; agents may send their backlog as AgentEventBatch messages. Real server, real
// gRPC over HTTP/2 (the agent's own Connect client), real SQLite event log.
import { create } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { connectToController, enrolWithController } from "../../agent/session/controller-client.ts";
import {
  type AgentEvent,
  AgentEventSchema,
  type AgentMessage,
  AgentMessageSchema,
  type ControllerMessage,
} from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import { ControlPlane } from "./control-plane.ts";
import type { ControlPlaneOptions } from "./control-plane-options.ts";
import { startControlPlaneServer } from "./control-plane-server.ts";
import { SqliteControlPlaneStore } from "./control-plane-store.ts";
import { SqliteEventLog } from "./event-log.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const until = async (what: string, check: () => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

async function serve(options: Partial<ControlPlaneOptions> = {}) {
  const store = new SqliteControlPlaneStore();
  const events = new SqliteEventLog();
  const controlPlane = new ControlPlane({
    store,
    events,
    heartbeatIntervalMs: 200,
    heartbeatDeadlineMs: 5000,
    ...options,
  });
  const server = await startControlPlaneServer({ controlPlane });
  cleanups.push(
    () => store.close(),
    () => events.close(),
    () => server.close(),
  );
  const { token } = controlPlane.mintEnrolmentToken("pod-1", 60_000);
  const credential = await enrolWithController({ endpoint: { url: server.url }, token, podId: "pod-1" });
  return { controlPlane, server, events, credential };
}

const statusEvent = (seq: number): AgentEvent =>
  create(AgentEventSchema, {
    seq: BigInt(seq),
    atUnixMs: BigInt(Date.now()),
    payload: { case: "status", value: { sentAtUnixMs: BigInt(Date.now()) } },
  });
const batch = (from: number, to: number): AgentMessage =>
  create(AgentMessageSchema, {
    kind: {
      case: "events",
      value: { events: Array.from({ length: to - from + 1 }, (_, i) => statusEvent(from + i)) },
    },
  });

/** A session whose messages the test writes one by one; collects what the controller sends. */
function openSession(url: string, agentId: string, sessionCredential: string) {
  const connection = connectToController({ url });
  const queue: AgentMessage[] = [create(AgentMessageSchema, { kind: { case: "hello", value: { agentId } } })];
  let wake: (() => void) | undefined;
  let ended = false;
  async function* outgoing(): AsyncGenerator<AgentMessage> {
    for (;;) {
      const next = queue.shift();
      if (next) yield next;
      else if (ended) return;
      else await new Promise<void>((r) => (wake = r));
    }
  }
  const received: ControllerMessage[] = [];
  const acks: number[] = [];
  const closed = (async (): Promise<ConnectError | undefined> => {
    try {
      for await (const m of connection.client.session(outgoing(), {
        headers: { authorization: `Bearer ${sessionCredential}` },
      })) {
        received.push(m);
        if (m.kind.case === "ack") acks.push(Number(m.kind.value));
      }
      return undefined;
    } catch (error) {
      return ConnectError.from(error);
    }
  })();
  const session = {
    received,
    acks,
    closed,
    send(m: AgentMessage) {
      queue.push(m);
      wake?.();
    },
    async close() {
      ended = true;
      wake?.();
      await closed;
      connection.close();
    },
  };
  cleanups.push(() => session.close());
  return session;
}

describe("event batches: stored in one commit, acknowledged only once stored", () => {
  it("announces its limits in the Welcome and stores batches and single events in few commits", async () => {
    const { server, events, credential } = await serve({ limits: { maxEventsPerBatch: 100 } });
    const { agentId, sessionCredential } = credential;
    const appendBatch = events.appendBatch.bind(events);
    const commits: number[] = [];
    let committed = 0;
    events.appendBatch = (rows, skipped) => {
      const stored = appendBatch(rows, skipped);
      commits.push(rows.length);
      committed = Math.max(committed, ...rows.map((r) => r.seq));
      return stored;
    };
    const session = openSession(server.url, agentId, sessionCredential);
    await until("the welcome", () => session.received.some((m) => m.kind.case === "welcome"));
    const welcome = session.received.find((m) => m.kind.case === "welcome");
    expect(welcome?.kind.case === "welcome" && welcome.kind.value).toMatchObject({
      maxEventBatch: 100,
      maxEventBatchBytes: 4 * 1024 * 1024,
    });
    session.send(batch(1, 40));
    session.send(batch(41, 100));
    session.send(create(AgentMessageSchema, { kind: { case: "event", value: statusEvent(101) } }));
    await until("the ack of 101", () => session.acks.at(-1) === 101);
    expect(committed).toBe(101);
    expect(events.events(agentId).map((r) => r.seq)).toEqual(Array.from({ length: 101 }, (_, i) => i + 1));
    // Far fewer commits than events (what arrived in one turn went in one transaction).
    expect(commits.reduce((a, b) => a + b, 0)).toBe(101);
    expect(commits.length).toBeLessThanOrEqual(3);
    expect(session.acks.every((a, i) => i === 0 || a > (session.acks[i - 1] ?? 0))).toBe(true);
  });

  it("refuses an empty batch and one over the limit (INVALID_ARGUMENT) and stores nothing of them", async () => {
    for (const [from, to] of [
      [1, 0],
      [1, 9],
    ] as const) {
      const { server, events, credential } = await serve({ limits: { maxEventsPerBatch: 8 } });
      const session = openSession(server.url, credential.agentId, credential.sessionCredential);
      session.send(batch(from, to));
      const error = await session.closed;
      expect(error?.message).toMatch(/an event batch of \d+ events; send 1 to 8/);
      expect(error?.code).toBe(3); // INVALID_ARGUMENT
      expect(events.events(credential.agentId)).toEqual([]);
    }
  });

  it("drops the part of a resent batch that was stored and stores the rest, once", async () => {
    const { server, events, credential, controlPlane } = await serve();
    const first = openSession(server.url, credential.agentId, credential.sessionCredential);
    first.send(batch(1, 30));
    await until("the first ack", () => first.acks.at(-1) === 30);
    await first.close();
    // The agent did not see the ack (a cut), so it resends 11..30 with 31..50.
    const second = openSession(server.url, credential.agentId, credential.sessionCredential);
    second.send(batch(11, 50));
    await until("the second ack", () => second.acks.at(-1) === 50);
    expect(events.events(credential.agentId).map((r) => r.seq)).toEqual(
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    expect(controlPlane.stats).toMatchObject({ eventsStored: 50, duplicatesDropped: 20 });
  });

  it("counts each event of a batch against the agent's message rate", async () => {
    const { server, credential, controlPlane } = await serve({
      limits: { messagesPerSecond: 100, messageBurst: 5 },
    });
    const session = openSession(server.url, credential.agentId, credential.sessionCredential);
    session.send(batch(1, 50));
    await until("the ack", () => session.acks.at(-1) === 50);
    // 51 messages' worth (hello + 50 events) against a burst of 5 at 100/s: about 460 ms.
    expect(controlPlane.stats.throttledMs).toBeGreaterThanOrEqual(400);
  });

  it("acks nothing of a commit the event log refuses, ends its sessions, and stores the resend", async () => {
    const { server, events, credential } = await serve();
    const appendBatch = events.appendBatch.bind(events);
    let refuse = true;
    events.appendBatch = (rows, skipped) => {
      if (refuse) {
        refuse = false;
        throw new Error("disk I/O error");
      }
      return appendBatch(rows, skipped);
    };
    const first = openSession(server.url, credential.agentId, credential.sessionCredential);
    first.send(batch(1, 20));
    const error = await first.closed;
    expect(error?.code).toBe(14); // UNAVAILABLE: the agent reconnects and resends
    expect(error?.message).toMatch(/could not store events: disk I\/O error; reconnect and resend/);
    expect(first.acks).toEqual([]);
    expect(events.events(credential.agentId)).toEqual([]);
    const second = openSession(server.url, credential.agentId, credential.sessionCredential);
    await until("the welcome", () => second.received.some((m) => m.kind.case === "welcome"));
    const welcome = second.received.find((m) => m.kind.case === "welcome");
    expect(welcome?.kind.case === "welcome" && welcome.kind.value.lastAgentSeq).toBe(0n);
    second.send(batch(1, 20));
    await until("the ack", () => second.acks.at(-1) === 20);
    expect(events.events(credential.agentId)).toHaveLength(20);
  });
});
