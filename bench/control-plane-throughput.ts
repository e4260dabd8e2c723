/**
 * Benchmark: agent events per second one controller core accepts from many concurrent agents,
 * and event latency (agent send -> controller ack), for the control plane (Connect, gRPC
 * protocol, validation, SQLite de-duplicated store) against a reference measured in the same
 * run: the same AgentMessage bytes in gRPC framing over a bare node:http2 stream, decoded and
 * stored in the same store, with no Connect, no auth and no validation.
 *
 * The controller runs in its own process pinned to core 0 (`taskset -c 0`); the load generator
 * runs here (pin it elsewhere: `taskset -c 1 node bench/control-plane-throughput.ts`), and its
 * CPU use is printed so a saturated generator is visible.
 *
 *   node bench/control-plane-throughput.ts [--agents 64] [--events 1500] [--window 64] [--json]
 */
import { type ChildProcess, spawn } from "node:child_process";
import * as http2 from "node:http2";
import { parseArgs } from "node:util";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { connectToController, enrolWithController } from "../agent/session/controller-client.ts";
import { ControlPlane } from "../controller/control-plane/control-plane.ts";
import { startControlPlaneServer } from "../controller/control-plane/control-plane-server.ts";
import { SqliteControlPlaneStore } from "../controller/control-plane/control-plane-store.ts";
import { SqliteEventLog } from "../controller/control-plane/event-log.ts";
import {
  type AgentMessage,
  AgentMessageSchema,
  AgentState,
  ControllerMessageSchema,
} from "../shared/gen/cacheon/v1/agent_service_pb.ts";

const { values } = parseArgs({
  options: {
    serve: { type: "string" },
    agents: { type: "string", default: "64" },
    events: { type: "string", default: "1500" },
    window: { type: "string", default: "64" },
    json: { type: "boolean", default: false },
  },
});

// ---------------------------------------------------------------- controller process (child)
if (values.serve) {
  const store = new SqliteControlPlaneStore();
  // Events go to the agents' event log (a file of its own in production; in memory here, for
  // both the control plane and the reference).
  const events = new SqliteEventLog();
  const unlimited = {
    messagesPerSecond: 1e9,
    messageBurst: 1e9,
    eventBytesPerSecond: 1e12,
    eventByteBurst: 1e12,
    maxStoredEventBytesPerAgent: 1e12,
  };
  if (values.serve === "connect") {
    const controlPlane = new ControlPlane({
      store,
      events,
      limits: unlimited,
      heartbeatIntervalMs: 5000,
      heartbeatDeadlineMs: 60_000,
    });
    const server = await startControlPlaneServer({ controlPlane });
    const tokens = Array.from({ length: Number(values.agents) }, (_, i) => ({
      podId: `bench-pod-${i}`,
      token: controlPlane.mintEnrolmentToken(`bench-pod-${i}`, 600_000).token,
    }));
    process.stdout.write(`${JSON.stringify({ port: server.port, tokens })}\n`);
  } else {
    const server = http2.createServer();
    server.on("stream", (stream, headers) => {
      const agentId = String(headers["x-agent-id"]);
      let buffered: Buffer = Buffer.alloc(0);
      stream.respond({ ":status": 200, "content-type": "application/grpc" });
      stream.on("data", (chunk: Buffer) => {
        buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
        let last = 0;
        while (buffered.length >= 5) {
          const length = buffered.readUInt32BE(1);
          if (buffered.length < 5 + length) break;
          const message = fromBinary(AgentMessageSchema, buffered.subarray(5, 5 + length));
          buffered = buffered.subarray(5 + length);
          if (message.kind.case === "event") {
            const event = message.kind.value;
            events.append({
              agentId,
              seq: Number(event.seq),
              atMs: Number(event.atUnixMs),
              receivedAtMs: Date.now(),
              kind: event.payload.case ?? "",
              jobId: "",
              event: toBinary(AgentMessageSchema, message),
            });
            last = Number(event.seq);
          }
        }
        if (last > 0)
          stream.write(
            frame(
              toBinary(
                ControllerMessageSchema,
                create(ControllerMessageSchema, { kind: { case: "ack", value: BigInt(last) } }),
              ),
            ),
          );
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
} else {
  await main();
}

function frame(bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + bytes.length);
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

function statusEvent(seq: number): AgentMessage {
  return create(AgentMessageSchema, {
    kind: {
      case: "event",
      value: {
        seq: BigInt(seq),
        atUnixMs: BigInt(Date.now()),
        payload: { case: "status", value: { sentAtUnixMs: BigInt(Date.now()), state: AgentState.MEASURING } },
      },
    },
  });
}

interface RunResult {
  events: number;
  seconds: number;
  eventsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  generatorCpuShare: number;
}

function startController(
  mode: "connect" | "raw",
): Promise<{ child: ChildProcess; info: Record<string, unknown> }> {
  const child = spawn(
    "taskset",
    ["-c", "0", process.execPath, import.meta.filename, "--serve", mode, "--agents", String(values.agents)],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.stdout?.once("data", (chunk: Buffer) =>
      resolve({ child, info: JSON.parse(chunk.toString().split("\n")[0] ?? "{}") }),
    );
  });
}

/** One agent's windowed stream: at most `window` unacked events; latency = send -> covering ack. */
async function drive(
  events: number,
  window: number,
  sendTimes: Float64Array,
  latencies: number[],
  open: (outgoing: AsyncIterable<AgentMessage>) => AsyncIterable<{ ack?: number }>,
  hello?: AgentMessage,
): Promise<void> {
  let acked = 0;
  let wake: (() => void) | undefined;
  async function* outgoing(): AsyncGenerator<AgentMessage> {
    if (hello) yield hello;
    for (let seq = 1; seq <= events; seq++) {
      while (seq - acked > window) await new Promise<void>((r) => (wake = r));
      sendTimes[seq] = performance.now();
      yield statusEvent(seq);
    }
    while (acked < events) await new Promise<void>((r) => (wake = r));
  }
  for await (const message of open(outgoing())) {
    if (message.ack === undefined) continue;
    const now = performance.now();
    for (let s = acked + 1; s <= message.ack; s++) latencies.push(now - (sendTimes[s] ?? now));
    acked = Math.max(acked, message.ack);
    wake?.();
    if (acked >= events) break;
  }
}

function summarise(
  latencies: number[],
  events: number,
  started: number,
  cpuBefore: NodeJS.CpuUsage,
): RunResult {
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  latencies.sort((a, b) => a - b);
  const q = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? Number.NaN;
  return {
    events,
    seconds,
    eventsPerSecond: events / seconds,
    p50Ms: q(0.5),
    p99Ms: q(0.99),
    generatorCpuShare: (cpu.user + cpu.system) / 1e6 / seconds,
  };
}

async function runConnect(agents: number, events: number, window: number): Promise<RunResult> {
  const { child, info } = await startController("connect");
  try {
    const url = `http://127.0.0.1:${info.port}`;
    const tokens = info.tokens as { podId: string; token: string }[];
    const credentials = await Promise.all(
      tokens.map((t) => enrolWithController({ endpoint: { url }, ...t })),
    );
    const latencies: number[] = [];
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await Promise.all(
      credentials.map(async (credential) => {
        const connection = connectToController({ url });
        const hello = create(AgentMessageSchema, {
          kind: { case: "hello", value: { agentId: credential.agentId } },
        });
        try {
          await drive(
            events,
            window,
            new Float64Array(events + 1),
            latencies,
            async function* (outgoing) {
              for await (const m of connection.client.session(outgoing, {
                headers: { authorization: `Bearer ${credential.sessionCredential}` },
              })) {
                if (m.kind.case === "ack") yield { ack: Number(m.kind.value) };
              }
            },
            hello,
          );
        } finally {
          connection.close();
        }
      }),
    );
    return summarise(latencies, agents * events, started, cpuBefore);
  } finally {
    child.kill();
  }
}

async function runRaw(agents: number, events: number, window: number): Promise<RunResult> {
  const { child, info } = await startController("raw");
  try {
    const latencies: number[] = [];
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: agents }, async (_, i) => {
        const session = http2.connect(`http://127.0.0.1:${info.port}`);
        try {
          await drive(events, window, new Float64Array(events + 1), latencies, async function* (outgoing) {
            const stream = session.request({ ":method": "POST", ":path": "/raw", "x-agent-id": `raw-${i}` });
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
                if (m.kind.case === "ack") yield { ack: Number(m.kind.value) };
              }
            }
          });
        } finally {
          session.destroy();
        }
      }),
    );
    return summarise(latencies, agents * events, started, cpuBefore);
  } finally {
    child.kill();
  }
}

async function main(): Promise<void> {
  const agents = Number(values.agents);
  const events = Number(values.events);
  const window = Number(values.window);
  const raw = await runRaw(agents, events, window);
  const connect = await runConnect(agents, events, window);
  const ratio = connect.eventsPerSecond / raw.eventsPerSecond;
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ agents, eventsPerAgent: events, window, connect, raw, ratio }, null, 2)}\n`,
    );
    return;
  }
  const line = (name: string, r: RunResult) =>
    `${name.padEnd(28)} ${r.eventsPerSecond.toFixed(0).padStart(8)} events/s  p50 ${r.p50Ms.toFixed(1).padStart(6)} ms  p99 ${r.p99Ms.toFixed(1).padStart(6)} ms  (${r.events} events in ${r.seconds.toFixed(2)} s; generator CPU ${(r.generatorCpuShare * 100).toFixed(0)}%)`;
  process.stdout.write(
    `control plane throughput: ${agents} agents x ${events} events, window ${window}, controller pinned to core 0\n` +
      `${line("control plane (Connect gRPC)", connect)}\n${line("reference (raw HTTP/2)", raw)}\n` +
      `ratio control plane / reference: ${ratio.toFixed(2)}x events/s, ${(connect.p99Ms / raw.p99Ms).toFixed(2)}x p99 latency\n`,
  );
}
