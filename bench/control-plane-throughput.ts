/**
 * Benchmark: agent events per second one controller core accepts from many concurrent agents,
 * and event latency (the event becomes sendable at the agent -> the controller's ack covering
 * it), for the control plane (Connect, gRPC protocol, auth, validation, quotas, the agents'
 * event log) against a reference measured in the same run: a bare node:http2 server that
 * decodes the same AgentMessage bytes and stores the same rows (each event re-encoded without
 * unknown fields, its kind and job) in the same event log, the same way (one transaction per
 * read), with no Connect, no auth, no validation and no quotas.
 *
 * Both servers get the same bytes from the same client: the agent's own (Connect's gRPC
 * transport, one write per message, as agents send; `--client raw` writes bare HTTP/2 frames
 * instead). Agents send their backlog in AgentEventBatch messages as the agent does
 * (agent/session/event-batch.ts, within the limits the control plane's Welcome announces);
 * `--batch 1` sends each event alone, as agents before batches did.
 *
 * Each server runs in its own process pinned to core 0 (`taskset -c 0`); the load generator runs
 * here (pin it elsewhere: `taskset -c 1 node bench/control-plane-throughput.ts`). Printed per
 * server: wall-clock events/s, latency p50/p99, the generator's CPU share (a saturated generator
 * is visible), and events per CPU-second of the server process, which on a shared machine says
 * what one core of its own would sustain when the wall clock says mostly how loaded the machine
 * is. `--store file` keeps the event logs in SQLite files (as in production) instead of memory.
 * Each server first takes the same load from other agents (a warm-up pass, not measured), so the
 * figures are of its steady state, as in a controller that runs for days; `--no-warmup` measures
 * a cold server. The server processes exit on SIGTERM, so `NODE_OPTIONS=--cpu-prof` profiles them.
 *
 * `--rate N` offers N events/s in all (open loop: latency at a given load, where the default
 * closed loop, each agent keeping `--window` events in flight, measures the most a server takes
 * and its latency is mostly the queue the window builds: 64 x 64 events in flight at 100k
 * events/s wait 41 ms on average).
 *
 *   node bench/control-plane-throughput.ts [--agents 64] [--events 1500] [--window 64] [--rate N]
 *     [--batch N] [--client connect|raw] [--store memory|file] [--no-warmup] [--json]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { connectToController, enrolWithController } from "../agent/session/controller-client.ts";
import { type EventBatchLimits, nextEventMessage } from "../agent/session/event-batch.ts";
import { ControlPlane } from "../controller/control-plane/control-plane.ts";
import { startControlPlaneServer } from "../controller/control-plane/control-plane-server.ts";
import { SqliteControlPlaneStore } from "../controller/control-plane/control-plane-store.ts";
import { type EventRow, SqliteEventLog } from "../controller/control-plane/event-log.ts";
import { eventJobId } from "../controller/control-plane/event-validation.ts";
import { resolveSessionLimits } from "../controller/control-plane/session-limits.ts";
import {
  type AgentEvent,
  AgentEventSchema,
  type AgentMessage,
  AgentMessageSchema,
  AgentState,
  ControllerMessageSchema,
} from "../shared/gen/cacheon/v1/agent_service_pb.ts";

const { values } = parseArgs({
  allowNegative: true,
  options: {
    serve: { type: "string" },
    agents: { type: "string", default: "64" },
    events: { type: "string", default: "1500" },
    window: { type: "string", default: "64" },
    rate: { type: "string", default: "0" },
    batch: { type: "string" },
    client: { type: "string", default: "connect" },
    store: { type: "string", default: "memory" },
    warmup: { type: "boolean", default: true },
    json: { type: "boolean", default: false },
  },
});

// ---------------------------------------------------------------- server processes (children)
if (values.serve) {
  const dir = values.store === "file" ? mkdtempSync(join(tmpdir(), "cp-bench-")) : undefined;
  process.on("SIGTERM", () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
  const store = new SqliteControlPlaneStore(dir ? { path: join(dir, "controller.db") } : {});
  const events = new SqliteEventLog(dir ? { path: join(dir, "controller-events.db") } : {});
  if (values.serve === "connect") await serveControlPlane(store, events);
  else serveReference(events);
} else {
  await main();
}

async function serveControlPlane(store: SqliteControlPlaneStore, events: SqliteEventLog): Promise<void> {
  const controlPlane = new ControlPlane({
    store,
    events,
    limits: {
      messagesPerSecond: 1e9,
      messageBurst: 1e9,
      eventBytesPerSecond: 1e12,
      eventByteBurst: 1e12,
      maxStoredEventBytesPerAgent: 1e12,
    },
    heartbeatIntervalMs: 5000,
    heartbeatDeadlineMs: 60_000,
  });
  const server = await startControlPlaneServer({ controlPlane });
  const tokens = Array.from({ length: Number(values.agents) }, (_, i) => ({
    podId: `bench-pod-${i}`,
    token: controlPlane.mintEnrolmentToken(`bench-pod-${i}`, 600_000).token,
  }));
  process.stdout.write(`${JSON.stringify({ port: server.port, tokens })}\n`);
}

/** The reference: gRPC framing on a bare HTTP/2 stream, the same rows stored the same way. */
function serveReference(events: SqliteEventLog): void {
  const server = http2.createServer();
  server.on("stream", (stream, headers) => {
    const agentId = String(headers["x-agent-id"]);
    let buffered: Buffer = Buffer.alloc(0);
    stream.respond({ ":status": 200, "content-type": "application/grpc" });
    stream.on("data", (chunk: Buffer) => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      const rows: EventRow[] = [];
      const store = (event: AgentEvent) =>
        rows.push({
          agentId,
          seq: Number(event.seq),
          atMs: Number(event.atUnixMs),
          receivedAtMs: Date.now(),
          kind: event.payload.case ?? "",
          jobId: eventJobId(event),
          event: toBinary(AgentEventSchema, event, { writeUnknownFields: false }),
        });
      while (buffered.length >= 5) {
        const length = buffered.readUInt32BE(1);
        if (buffered.length < 5 + length) break;
        const message = fromBinary(AgentMessageSchema, buffered.subarray(5, 5 + length));
        buffered = buffered.subarray(5 + length);
        if (message.kind.case === "event") store(message.kind.value);
        if (message.kind.case === "events") for (const event of message.kind.value.events) store(event);
      }
      const last = rows.at(-1)?.seq;
      if (last === undefined) return;
      events.appendBatch(rows);
      const ack = create(ControllerMessageSchema, { kind: { case: "ack", value: BigInt(last) } });
      stream.write(frame(toBinary(ControllerMessageSchema, ack)));
    });
    stream.on("end", () => stream.end());
    stream.on("error", () => {});
  });
  server.listen(0, "127.0.0.1", () => {
    const address = server.address();
    process.stdout.write(
      `${JSON.stringify({ port: typeof address === "object" && address ? address.port : 0 })}\n`,
    );
  });
}

// ---------------------------------------------------------------- load generator (this process)

function frame(bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + bytes.length);
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

function statusEvent(seq: number): AgentEvent {
  return create(AgentEventSchema, {
    seq: BigInt(seq),
    atUnixMs: BigInt(Date.now()),
    payload: { case: "status", value: { sentAtUnixMs: BigInt(Date.now()), state: AgentState.MEASURING } },
  });
}

interface RunResult {
  events: number;
  seconds: number;
  eventsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Messages the agents sent (events are batched when a backlog forms). */
  messages: number;
  generatorCpuShare: number;
  /** CPU seconds the server process spent on the run (user + system). */
  serverCpuSeconds: number;
  /** Events per CPU-second of the server: its throughput on a core of its own. */
  eventsPerServerCpuSecond: number;
}

/** User + system CPU seconds of a process so far (Linux /proc; taskset execs, so the pid is node's). */
function cpuSecondsOf(pid: number | undefined): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function startServer(
  mode: "connect" | "raw",
  agentCount: number,
): Promise<{ child: ChildProcess; info: Record<string, unknown> }> {
  const child = spawn(
    "taskset",
    [
      "-c",
      "0",
      process.execPath,
      import.meta.filename,
      "--serve",
      mode,
      "--agents",
      String(agentCount),
      "--store",
      String(values.store),
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.stdout?.once("data", (chunk: Buffer) =>
      resolve({ child, info: JSON.parse(chunk.toString().split("\n")[0] ?? "{}") }),
    );
  });
}

/** Opens one session: sends `outgoing`, yields the acks. */
type Open = (outgoing: AsyncIterable<AgentMessage>) => AsyncIterable<number>;

interface DriveOptions {
  events: number;
  window: number;
  /** Events per second this agent produces (open loop), or 0: as fast as the window lets. */
  rate: number;
  batch: EventBatchLimits;
  latencies: number[];
  open: Open;
  hello: AgentMessage;
}

/**
 * One agent. Closed loop (rate 0): at most `window` unacknowledged events; an event becomes
 * sendable when the window lets it. Open loop: event k becomes sendable k/rate seconds after the
 * start, whatever the acks (a late generator or a slow server shows as latency, not as fewer
 * events). What is sendable goes out as the agent sends it (batched within `batch`).
 * Latency = sendable -> covering ack. Returns the number of messages sent.
 */
async function drive(options: DriveOptions): Promise<number> {
  const { events, window, rate } = options;
  const sendable = new Float64Array(events + 1);
  const pending: AgentEvent[] = [];
  let produced = 0;
  let acked = 0;
  let messages = 0;
  let wake: (() => void) | undefined;
  const startedAt = performance.now();
  const produce = () => {
    const now = performance.now();
    const due = rate > 0 ? Math.min(events, Math.floor(((now - startedAt) * rate) / 1000)) : events;
    while (produced < due && (rate > 0 || produced - acked < window)) {
      produced += 1;
      sendable[produced] = rate > 0 ? startedAt + (produced * 1000) / rate : now;
      pending.push(statusEvent(produced));
    }
  };
  const poke = () => {
    produce();
    const w = wake;
    wake = undefined;
    w?.();
  };
  const ticker = rate > 0 ? setInterval(poke, 1) : undefined;
  async function* outgoing(): AsyncGenerator<AgentMessage> {
    yield options.hello;
    produce();
    while (acked < events) {
      if (pending.length > 0) {
        const { message, count } = nextEventMessage(pending, options.batch);
        pending.splice(0, count);
        messages += 1;
        yield message;
        continue;
      }
      await new Promise<void>((r) => {
        wake = r;
      });
    }
  }
  try {
    for await (const ack of options.open(outgoing())) {
      const now = performance.now();
      for (let s = acked + 1; s <= ack; s++) options.latencies.push(now - (sendable[s] ?? now));
      acked = Math.max(acked, ack);
      poke();
      if (acked >= events) break;
    }
  } finally {
    clearInterval(ticker);
  }
  return messages;
}

/** A session through the agent's client (Connect's gRPC transport). */
function connectOpen(url: string, headers: Record<string, string>): { open: Open; close: () => void } {
  const connection = connectToController({ url });
  return {
    open: async function* (outgoing) {
      for await (const m of connection.client.session(outgoing, { headers })) {
        if (m.kind.case === "ack") yield Number(m.kind.value);
      }
    },
    close: () => connection.close(),
  };
}

/** A session in gRPC framing written straight to a bare HTTP/2 stream. */
function rawOpen(url: string, headers: Record<string, string>): { open: Open; close: () => void } {
  const session = http2.connect(url);
  return {
    open: async function* (outgoing) {
      const stream = session.request({
        ":method": "POST",
        ":path": "/cacheon.v1.AgentService/Session",
        "content-type": "application/grpc",
        te: "trailers",
        ...headers,
      });
      (async () => {
        for await (const m of outgoing) {
          if (!stream.write(frame(toBinary(AgentMessageSchema, m))))
            await new Promise((r) => stream.once("drain", r));
        }
      })().catch(() => {});
      let buffered: Buffer = Buffer.alloc(0);
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
        while (buffered.length >= 5) {
          const length = buffered.readUInt32BE(1);
          if (buffered.length < 5 + length) break;
          const m = fromBinary(ControllerMessageSchema, buffered.subarray(5, 5 + length));
          buffered = buffered.subarray(5 + length);
          if (m.kind.case === "ack") yield Number(m.kind.value);
        }
      }
    },
    close: () => session.destroy(),
  };
}

async function run(mode: "connect" | "raw", batch: EventBatchLimits): Promise<RunResult> {
  const agents = Number(values.agents);
  const events = Number(values.events);
  // A warm-up pass first (other agents, the same load), so the measured pass sees a server in
  // its steady state (code compiled, caches filled) as a controller that runs for days does.
  const passes = values.warmup ? 2 : 1;
  const { child, info } = await startServer(mode, agents * passes);
  try {
    const url = `http://127.0.0.1:${info.port}`;
    // The control plane's agents enrol and authenticate; the reference's name themselves.
    const identities =
      mode === "connect"
        ? (
            await Promise.all(
              (info.tokens as { podId: string; token: string }[]).map((t) =>
                enrolWithController({ endpoint: { url }, ...t }),
              ),
            )
          ).map((c) => ({
            agentId: c.agentId,
            headers: { authorization: `Bearer ${c.sessionCredential}` },
          }))
        : // Ids shaped like enrolled agents' (the stored key is as long).
          Array.from({ length: agents * passes }, () => `agent-${randomUUID()}`).map((agentId) => ({
            agentId,
            headers: { "x-agent-id": agentId },
          }));
    const pass = (group: typeof identities, latencies: number[]) =>
      Promise.all(
        group.map(async (identity) => {
          const { open, close } = (values.client === "raw" ? rawOpen : connectOpen)(url, identity.headers);
          try {
            return await drive({
              events,
              window: Number(values.window),
              rate: Number(values.rate) / agents,
              batch,
              latencies,
              open,
              hello: create(AgentMessageSchema, {
                kind: { case: "hello", value: { agentId: identity.agentId } },
              }),
            });
          } finally {
            close();
          }
        }),
      );
    if (passes > 1) await pass(identities.slice(agents), []);
    const latencies: number[] = [];
    const serverCpuBefore = cpuSecondsOf(child.pid);
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const messages = await pass(identities.slice(0, agents), latencies);
    const seconds = (performance.now() - started) / 1000;
    const serverCpuSeconds = cpuSecondsOf(child.pid) - serverCpuBefore;
    const cpu = process.cpuUsage(cpuBefore);
    latencies.sort((a, b) => a - b);
    const q = (p: number) =>
      latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? Number.NaN;
    const total = agents * events;
    return {
      events: total,
      seconds,
      eventsPerSecond: total / seconds,
      p50Ms: q(0.5),
      p99Ms: q(0.99),
      messages: messages.reduce((a, b) => a + b, 0),
      generatorCpuShare: (cpu.user + cpu.system) / 1e6 / seconds,
      serverCpuSeconds,
      eventsPerServerCpuSecond: total / serverCpuSeconds,
    };
  } finally {
    child.kill();
  }
}

async function main(): Promise<void> {
  const agents = Number(values.agents);
  const events = Number(values.events);
  const window = Number(values.window);
  // What the control plane's Welcome announces (its default limits), unless --batch says otherwise.
  const limits = resolveSessionLimits();
  const batch: EventBatchLimits = {
    maxEvents: values.batch === undefined ? limits.maxEventsPerBatch : Number(values.batch),
    maxBytes: limits.maxMessageBytes,
  };
  const raw = await run("raw", batch);
  const connect = await run("connect", batch);
  const ratio = connect.eventsPerSecond / raw.eventsPerSecond;
  const cpuRatio = connect.eventsPerServerCpuSecond / raw.eventsPerServerCpuSecond;
  if (values.json) {
    const setup = {
      agents,
      eventsPerAgent: events,
      window,
      rate: Number(values.rate),
      batch,
      warmup: values.warmup,
      client: values.client,
      store: values.store,
    };
    process.stdout.write(`${JSON.stringify({ ...setup, connect, raw, ratio, cpuRatio }, null, 2)}\n`);
    return;
  }
  const line = (name: string, r: RunResult) =>
    `${name.padEnd(28)} ${r.eventsPerSecond.toFixed(0).padStart(7)} events/s  p50 ${r.p50Ms.toFixed(1).padStart(6)} ms  p99 ${r.p99Ms.toFixed(1).padStart(6)} ms  ${r.eventsPerServerCpuSecond.toFixed(0).padStart(7)} events/CPU-s  (${r.events} events in ${r.messages} messages, ${r.seconds.toFixed(2)} s; generator CPU ${(r.generatorCpuShare * 100).toFixed(0)}%)`;
  process.stdout.write(
    `control plane throughput: ${agents} agents x ${events} events, ${Number(values.rate) > 0 ? `${values.rate} events/s offered (open loop)` : `window ${window}`}, batches of <= ${batch.maxEvents}, ${values.warmup ? "after a warm-up pass" : "no warm-up"}, ${values.client} client, event log in ${values.store}, servers pinned to core 0\n` +
      `${line("control plane (Connect gRPC)", connect)}\n${line("reference (raw HTTP/2)", raw)}\n` +
      `ratio control plane / reference: ${ratio.toFixed(2)}x events/s, ${cpuRatio.toFixed(2)}x events per server CPU-second, ${(connect.p99Ms / raw.p99Ms).toFixed(2)}x p99 latency\n`,
  );
}
