/**
 * How many tokens per second one sim-llm process streams on one core, at 1, 64 and 256 concurrent
 * streams with zero model delays, against a plain node:http SSE server streaming the same bytes
 * (the reference, measured in the same run under the same client). Both servers are pinned to
 * core 0 with taskset when it exists; the client runs here.
 *
 *   node bench/sim-llm-throughput.ts [--levels 1,64,256] [--tokens 256] [--seconds 4] [--json]
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { Agent, createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const root = join(import.meta.dirname, "..");
const { values } = parseArgs({
  options: {
    levels: { type: "string", default: "1,64,256" },
    tokens: { type: "string", default: "256" },
    seconds: { type: "string", default: "4" },
    json: { type: "boolean", default: false },
    "reference-server": { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});

if (values.help) {
  process.stdout.write(
    "node bench/sim-llm-throughput.ts [--levels 1,64,256] [--tokens 256] [--seconds 4] [--json]\nPrints sim-llm tokens/s on one core against a plain node:http SSE server sending the same bytes.\n",
  );
  process.exit(0);
}

if (values["reference-server"]) {
  // The reference: replays recorded SSE events, one per event-loop turn as a server writing per token does.
  const events = JSON.parse(readFileSync(values["reference-server"], "utf8")) as string[];
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      let i = 0;
      const next = () => {
        if (res.destroyed) return;
        if (i < events.length) {
          res.write(events[i++]);
          setImmediate(next);
        } else res.end();
      };
      next();
    });
  });
  server.listen(0, "127.0.0.1", () => {
    process.stdout.write(
      `${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`,
    );
  });
  process.on("SIGTERM", () => process.exit(0));
} else {
  await bench();
}

async function bench(): Promise<void> {
  const levels = (values.levels as string).split(",").map(Number);
  const tokens = Number(values.tokens);
  const seconds = Number(values.seconds);
  const pin = existsSync("/usr/bin/taskset") || existsSync("/bin/taskset");
  if (pin) {
    try {
      execFileSync("taskset", ["-cp", "1", String(process.pid)], { stdio: "ignore" });
    } catch {
      // one core only: the client shares it
    }
  }
  const zero =
    "prefillBaseMs=0,prefillMsPerPromptToken=0,decodeStepBaseMs=0,decodeStepMsPerRunning=0,maxBatch=4096";
  const sim = await launch(["sim-llm/cli/main.ts", "--port", "0", "--json", "--timing", zero], pin);
  const body = JSON.stringify({
    model: "Qwen/Qwen2.5-72B-Instruct",
    messages: [{ role: "user", content: "Write about the sea at night. ".repeat(40) }],
    max_tokens: tokens,
    temperature: 0,
    ignore_eos: true,
    stream: true,
    logprobs: true,
    top_logprobs: 5,
    stream_options: { include_usage: true },
  });
  const recorded = await recordEvents(sim.url, body);
  const dir = mkdtempSync(join(tmpdir(), "sim-bench-"));
  writeFileSync(join(dir, "events.json"), JSON.stringify(recorded));
  const reference = await launch(
    ["bench/sim-llm-throughput.ts", "--reference-server", join(dir, "events.json")],
    pin,
  );

  const rows = [];
  try {
    for (const level of levels) {
      const ref = await measure(reference, body, level, seconds, tokens);
      const s = await measure(sim, body, level, seconds, tokens);
      rows.push({
        streams: level,
        simTokensPerSecond: Math.round(s.tokensPerSecond),
        referenceTokensPerSecond: Math.round(ref.tokensPerSecond),
        ratio: Number((s.tokensPerSecond / ref.tokensPerSecond).toFixed(3)),
        simTokensPerCpuSecond: Math.round(s.tokensPerCpuSecond),
        referenceTokensPerCpuSecond: Math.round(ref.tokensPerCpuSecond),
        simServerCpuShare: Number(s.cpuShare.toFixed(2)),
      });
    }
  } finally {
    sim.child.kill("SIGTERM");
    reference.child.kill("SIGTERM");
  }
  // What 256 streams ask of one server with the default timing (20 ms + 0.12 ms per running sequence per step).
  const demand256 = 256 / ((20 + 0.12 * 256) / 1000);
  const bytesPerToken = recorded.join("").length / tokens;
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ pinned: pin, tokens, seconds, bytesPerToken, demand256, rows }, null, 2)}\n`,
    );
    return;
  }
  process.stdout.write(
    `sim-llm throughput: ${tokens} tokens per stream, top_logprobs 5 (${bytesPerToken.toFixed(0)} SSE bytes per token), ${seconds}s per level, servers ${pin ? "pinned to core 0" : "unpinned"}\n\n`,
  );
  process.stdout.write(
    "streams | sim tok/s | reference tok/s | sim/ref | sim tok per CPU-s | ref tok per CPU-s | sim CPU share\n",
  );
  process.stdout.write(
    "------- | --------- | --------------- | ------- | ----------------- | ----------------- | -------------\n",
  );
  for (const r of rows) {
    process.stdout.write(
      `${String(r.streams).padStart(7)} | ${String(r.simTokensPerSecond).padStart(9)} | ${String(r.referenceTokensPerSecond).padStart(15)} | ${r.ratio.toFixed(3).padStart(7)} | ${String(r.simTokensPerCpuSecond).padStart(17)} | ${String(r.referenceTokensPerCpuSecond).padStart(17)} | ${r.simServerCpuShare.toFixed(2).padStart(13)}\n`,
    );
  }
  const last = rows.at(-1);
  if (last) {
    process.stdout.write(
      `\nDemand of ${last.streams === 256 ? "256" : last.streams} streams at the default timing: about ${Math.round(demand256)} tok/s per server; ` +
        `the sim's capacity on one core is ${last.simTokensPerCpuSecond} tok per CPU-second (headroom x${(last.simTokensPerCpuSecond / demand256).toFixed(1)}).\n`,
    );
  }
}

interface Launched {
  child: ChildProcess;
  url: string;
}

async function launch(args: string[], pin: boolean): Promise<Launched> {
  const command = pin ? "taskset" : process.execPath;
  const argv = pin ? ["-c", "0", process.execPath, ...args] : args;
  const child = spawn(command, argv, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  let text = "";
  for await (const chunk of child.stdout as NodeJS.ReadableStream) {
    text += chunk;
    const line = text.split("\n")[0];
    if (text.includes("\n") && line) return { child, url: (JSON.parse(line) as { url: string }).url };
  }
  throw new Error(`${args.join(" ")} exited before printing its URL`);
}

function recordEvents(url: string, body: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/v1/chat/completions`,
      { method: "POST", headers: { "content-type": "application/json" } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (text += d));
        res.on("end", () => resolve(text.split(/(?<=\n\n)/).filter((e) => e.length > 0)));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Closed loop: `streams` clients each send requests back to back for `seconds`; counts whole responses. */
async function measure(server: Launched, body: string, streams: number, seconds: number, tokens: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: streams });
  const url = new URL(`${server.url}/v1/chat/completions`);
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const req = request(
        url,
        { method: "POST", agent, headers: { "content-type": "application/json" } },
        (res) => {
          res.on("data", () => {});
          res.on("end", () => resolve());
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  await Promise.all(Array.from({ length: Math.min(streams, 8) }, one)); // warm-up
  const pid = findServerPid(server.child);
  const cpuBefore = cpuSeconds(pid);
  const started = performance.now();
  const stopAt = started + seconds * 1000;
  let completed = 0;
  await Promise.all(
    Array.from({ length: streams }, async () => {
      while (performance.now() < stopAt) {
        await one();
        completed += 1;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const cpu = cpuSeconds(pid) - cpuBefore;
  agent.destroy();
  const total = completed * tokens;
  return {
    tokensPerSecond: total / elapsed,
    tokensPerCpuSecond: total / Math.max(cpu, 0.01),
    cpuShare: cpu / elapsed,
  };
}

/** The node process itself (taskset execs node in place, so the child's pid is node's). */
function findServerPid(child: ChildProcess): number {
  if (child.pid === undefined) throw new Error("server process has no pid");
  return child.pid;
}
