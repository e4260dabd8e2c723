/**
 * The bench client's own ceiling: streamed chunks per second and added TTFT at 1, 64 and 256
 * concurrent streams, with the client pinned to one core (taskset -c 0) against a zero-delay SSE
 * server on the other cores. Reported as ratios against two references measured in the same run
 * against the same server, trials rotating so machine noise hits all alike: a minimal raw
 * node:http reader (no SSE parsing, no JSON, a byte search for the first token), and a Python
 * aiohttp client built as vLLM's and SGLang's benchmark clients are (bench/aiohttp-stream-client.py,
 * Debian's python3-aiohttp).
 *
 * Each client's own CPU time in the timed window is measured too: "busy" is its share of the
 * window, and chunks per CPU-second is what it would stream with its core to itself, a figure a
 * loaded machine (where the server, not the client, may set the pace) cannot hide. Ours parses its
 * streams after the window: "+parse" counts that CPU as well.
 *
 * With --token-ms the server paces tokens (one per stream every that many ms, as a real server
 * would) instead of flooding: the added TTFT then shows the client's error at a realistic load.
 * With --burst K the server writes K events per write: each socket read then carries about K
 * chunks, as it does when a client falls behind a faster server (TCP coalesces what waits in the
 * socket) or a server sends several tokens at once. A loaded machine whose server cannot outrun the
 * client only shows the client's saturated behaviour this way.
 *
 *   node bench/bench-client-ceiling.ts [--levels 1,64,256] [--tokens 128] [--trials 3] [--token-ms 0]
 *     [--clients ours,raw,aiohttp] [--python /usr/bin/python3] [--json]
 */
import { execFileSync, spawn } from "node:child_process";
import { Agent, createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { availableParallelism, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { runWorkload } from "../agent/bench/run-workload.ts";
import { WorkloadSpecSchema } from "../shared/gen/cacheon/v1/workload_pb.ts";
import { median, percentile } from "../shared/stats/summarise.ts";

const { values } = parseArgs({
  options: {
    levels: { type: "string", default: "1,64,256" },
    tokens: { type: "string", default: "128" },
    trials: { type: "string", default: "3" },
    "token-ms": { type: "string", default: "0" },
    burst: { type: "string", default: "1" },
    clients: { type: "string", default: "ours,raw,aiohttp" },
    python: { type: "string", default: "/usr/bin/python3" },
    json: { type: "boolean", default: false },
    server: { type: "boolean", default: false },
    client: { type: "string" },
    url: { type: "string" },
    concurrency: { type: "string" },
    requests: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});

const model = "ceiling";
const tokens = Number(values.tokens);
const tokenMs = Number(values["token-ms"]);
const burst = Math.max(1, Number(values.burst));

/** One measured client run. */
interface ClientResult {
  wallS: number;
  chunks: number;
  ttftP50: number;
  ttftP99: number;
  /** The client process's CPU time in the timed window (all threads), s. */
  cpuS: number;
  /** The part of cpuS spent in the kernel (socket reads and writes), s. */
  sysS: number;
  /** CPU spent after the window parsing what it captured (ours only), s. */
  parseS?: number;
  /** Median event-loop lag in the window, ms (ours only): what the client-bound finding reads. */
  lagP50?: number;
}

/**
 * The clients compared: ours, ours parsing every read as it arrives ("eager", maxUnparsedBytes 0:
 * what the client did before it deferred parsing), and the two references.
 */
type ClientKind = "ours" | "eager" | "raw" | "aiohttp";

if (values.help) {
  process.stdout.write(
    "node bench/bench-client-ceiling.ts [--levels 1,64,256] [--tokens 128] [--trials 3] [--token-ms 0] [--burst 1] [--clients ours,raw,aiohttp] [--python /usr/bin/python3] [--json]\nPrints the bench client's chunks/s, CPU use and added TTFT on one core against a minimal raw node:http reader and an aiohttp client.\n",
  );
} else if (values.server) {
  serve();
} else if (values.client) {
  const result = await measureClient(
    values.client,
    values.url as string,
    Number(values.concurrency),
    Number(values.requests),
  );
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  await harness();
}

/** A zero-delay SSE server: role chunk at once, then one token chunk per event-loop turn, usage, [DONE]. */
function serve(): void {
  const token = (i: number) =>
    `data: ${JSON.stringify({
      id: "chatcmpl-ceiling",
      object: "chat.completion.chunk",
      created: 0,
      model,
      choices: [
        {
          index: 0,
          delta: { content: ` tok${i % 100}` },
          logprobs: {
            content: [
              {
                token: `token_id:${1000 + (i % 100)}`,
                logprob: -0.01,
                top_logprobs: [0, 1, 2, 3, 4].map((k) => ({
                  token: `token_id:${1000 + k}`,
                  logprob: -0.01 - k,
                })),
              },
            ],
          },
          finish_reason: i === tokens - 1 ? "length" : null,
        },
      ],
    })}\n\n`;
  const chunks = Array.from({ length: tokens }, (_, i) => token(i));
  const role = `data: ${JSON.stringify({ id: "chatcmpl-ceiling", choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }] })}\n\n`;
  const tail = `data: ${JSON.stringify({ id: "chatcmpl-ceiling", choices: [], usage: { prompt_tokens: 8, completion_tokens: tokens, total_tokens: tokens + 8 } })}\n\ndata: [DONE]\n\n`;
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      res.write(role);
      let i = 0;
      const next = () => {
        if (res.destroyed) return;
        if (i < chunks.length) {
          res.write(burst === 1 ? (chunks[i] as string) : chunks.slice(i, i + burst).join(""));
          i += burst;
          if (tokenMs > 0) setTimeout(next, tokenMs);
          else setImmediate(next);
        } else res.end(tail);
      };
      setImmediate(next);
    });
  });
  server.listen(0, "127.0.0.1", () => {
    process.stdout.write(
      `${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`,
    );
  });
  process.on("SIGTERM", () => process.exit(0));
}

async function measureClient(
  kind: string,
  url: string,
  concurrency: number,
  requests: number,
): Promise<ClientResult> {
  if (kind === "ours" || kind === "eager") {
    const run = await runWorkload({
      endpoint: url,
      prompts: [{ id: "p", messages: [{ role: "user", content: "Say something." }] }],
      roundSeed: "00",
      workload: create(WorkloadSpecSchema, {
        model,
        requests,
        warmupRequests: Math.min(concurrency, 16),
        maxTokens: tokens,
        topLogprobs: 5,
        repetitions: 1,
        stallTimeoutMs: 60_000,
        arrival: { process: { case: "closedLoop", value: { concurrency } } },
      }),
      ...(kind === "eager" ? { maxUnparsedBytes: 0 } : {}),
    });
    if (run.summary.failed > 0) throw new Error(`${kind}: ${JSON.stringify(run.summary.failuresByCode)}`);
    const load = run.clientLoad[0];
    return {
      wallS: run.summary.wallS,
      chunks: run.requests.reduce((n, r) => n + r.contentChunks, 0),
      ttftP50: run.summary.ttftMs?.p50 ?? Number.NaN,
      ttftP99: run.summary.ttftMs?.p99 ?? Number.NaN,
      cpuS: load?.processCpuS ?? Number.NaN,
      sysS: load?.processSysS ?? Number.NaN,
      parseS: load?.parseCpuS ?? Number.NaN,
      lagP50: load?.loopDelayP50Ms ?? Number.NaN,
    };
  }
  // The raw reader: the least a client can do to see the first token and the end of each stream.
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const body = Buffer.from(
    JSON.stringify({ model, messages: [{ role: "user", content: "Say something." }], stream: true }),
  );
  const marker = Buffer.from('"logprobs":{"content"');
  const one = () =>
    new Promise<number>((resolve, reject) => {
      let first = Number.NaN;
      const req = request(`${url}/v1/chat/completions`, {
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": body.length },
      });
      req.on("error", reject);
      req.on("response", (res) => {
        res.on("data", (b: Buffer) => {
          const at = performance.now();
          if (Number.isNaN(first) && b.indexOf(marker) !== -1) first = at;
        });
        res.on("end", () => resolve(first - sent));
      });
      const sent = performance.now();
      req.end(body);
    });
  const loop = async (n: number, out: number[]) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(concurrency, n) }, async () => {
        while (next < n) {
          next += 1;
          out.push(await one());
        }
      }),
    );
  };
  await loop(Math.min(concurrency, 16), []);
  const ttfts: number[] = [];
  const cpu = process.cpuUsage();
  const start = performance.now();
  await loop(requests, ttfts);
  const wallS = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  agent.destroy();
  ttfts.sort((a, b) => a - b);
  return {
    wallS,
    chunks: requests * tokens,
    ttftP50: percentile(ttfts, 50),
    ttftP99: percentile(ttfts, 99),
    cpuS: (used.user + used.system) / 1e6,
    sysS: used.system / 1e6,
  };
}

async function harness(): Promise<void> {
  const cores = availableParallelism();
  const hasTaskset = (() => {
    try {
      execFileSync("taskset", ["-V"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  })();
  const pin = (cpus: string, args: string[]) =>
    (hasTaskset && cores > 1 ? ["taskset", ["-c", cpus, ...args]] : [args[0], args.slice(1)]) as [
      string,
      string[],
    ];
  const self = new URL(import.meta.url).pathname;
  const [serverCmd, serverArgs] = pin(cores > 2 ? `1-${cores - 1}` : "1", [
    process.execPath,
    self,
    "--server",
    "--tokens",
    String(tokens),
    "--token-ms",
    String(tokenMs),
    "--burst",
    String(burst),
  ]);
  const server = spawn(serverCmd, serverArgs, { stdio: ["ignore", "pipe", "inherit"] });
  const url = await new Promise<string>((resolve, reject) => {
    server.stdout.once("data", (b: Buffer) => resolve(JSON.parse(b.toString()).url));
    server.once("exit", (code) => reject(new Error(`server exited ${code}`)));
  });
  const kinds = (values.clients as string).split(",") as ClientKind[];
  const rows: Array<Record<string, number>> = [];
  try {
    for (const level of (values.levels as string).split(",").map(Number)) {
      const requests = tokenMs > 0 ? Math.max(level, 16) : Math.max(2 * level, 32);
      const trials: Record<ClientKind, ClientResult[]> = { ours: [], eager: [], raw: [], aiohttp: [] };
      for (let t = 0; t < Number(values.trials); t++) {
        // Rotate the order, so a slow patch of the machine does not always hit the same client.
        for (const kind of kinds.map((_, i) => kinds[(i + t) % kinds.length] as ClientKind)) {
          const common = ["--url", url, "--concurrency", String(level), "--requests", String(requests)];
          const [cmd, args] =
            kind === "aiohttp"
              ? pin("0", [
                  values.python as string,
                  new URL("./aiohttp-stream-client.py", import.meta.url).pathname,
                  ...common,
                  "--warmup",
                  String(Math.min(level, 16)),
                  "--model",
                  model,
                  "--max-tokens",
                  String(tokens),
                ])
              : pin("0", [process.execPath, self, "--client", kind, ...common, "--tokens", String(tokens)]);
          const out = execFileSync(cmd, args, { encoding: "utf8", maxBuffer: 1 << 20 });
          trials[kind].push(JSON.parse(out.trim().split("\n").pop() as string) as ClientResult);
        }
      }
      const med = (rs: ClientResult[], f: (r: ClientResult) => number) => median(rs.map(f));
      const row: Record<string, number> = { streams: level };
      for (const kind of kinds) {
        const rs = trials[kind];
        row[`${kind}_chunks_per_s`] = med(rs, (r) => r.chunks / r.wallS);
        // Spread: the slowest and fastest trial, so a reader sees how noisy the machine was.
        row[`${kind}_chunks_per_s_min`] = Math.min(...rs.map((r) => r.chunks / r.wallS));
        row[`${kind}_chunks_per_s_max`] = Math.max(...rs.map((r) => r.chunks / r.wallS));
        row[`${kind}_busy`] = med(rs, (r) => r.cpuS / r.wallS);
        row[`${kind}_sys_share`] = med(rs, (r) => r.sysS / r.cpuS);
        row[`${kind}_chunks_per_cpu_s`] = med(rs, (r) => r.chunks / r.cpuS);
        row[`${kind}_ttft_p50_ms`] = med(rs, (r) => r.ttftP50);
        row[`${kind}_ttft_p99_ms`] = med(rs, (r) => r.ttftP99);
        if (kind === "ours" || kind === "eager")
          row[`${kind}_loop_lag_p50_ms`] = med(rs, (r) => r.lagP50 ?? Number.NaN);
      }
      if (kinds.includes("ours")) {
        row.ours_chunks_per_cpu_s_with_parse = med(trials.ours, (r) => r.chunks / (r.cpuS + (r.parseS ?? 0)));
        for (const ref of ["raw", "aiohttp"] as const) {
          if (!kinds.includes(ref)) continue;
          row[`ratio_vs_${ref}`] = (row.ours_chunks_per_s as number) / (row[`${ref}_chunks_per_s`] as number);
          row[`cpu_ratio_vs_${ref}`] =
            (row.ours_chunks_per_cpu_s as number) / (row[`${ref}_chunks_per_cpu_s`] as number);
          row[`cpu_ratio_with_parse_vs_${ref}`] =
            (row.ours_chunks_per_cpu_s_with_parse as number) / (row[`${ref}_chunks_per_cpu_s`] as number);
          row[`added_ttft_p50_ms_vs_${ref}`] =
            (row.ours_ttft_p50_ms as number) - (row[`${ref}_ttft_p50_ms`] as number);
        }
      }
      rows.push(row);
    }
  } finally {
    server.kill("SIGTERM");
  }
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ cores, taskset: hasTaskset, tokens, tokenMs, burst, load: loadavg(), rows }, null, 2)}\n`,
    );
    return;
  }
  const [l1, l5] = loadavg();
  process.stdout.write(
    `bench client ceiling: client on 1 core${hasTaskset && cores > 1 ? " (taskset -c 0)" : " (no taskset: unpinned)"}, ${tokenMs > 0 ? `server pacing one token per ${tokenMs} ms per stream` : "zero-delay server"}${burst > 1 ? ` writing ${burst} events per write` : ""} on ${cores > 2 ? `cores 1-${cores - 1}` : "core 1"}, ${tokens} tokens/stream, median of ${values.trials} trials, load average ${l1?.toFixed(1)} / ${l5?.toFixed(1)} (1/5 min) on ${cores} cores\n`,
  );
  const f = (x: number | undefined, d = 0) => (x === undefined || Number.isNaN(x) ? "-" : x.toFixed(d));
  process.stdout.write(
    "streams  client   chunks/s (min-max)        busy  kernel  chunks/CPU-s  TTFT p50 / p99 ms\n",
  );
  for (const r of rows) {
    for (const kind of kinds) {
      process.stdout.write(
        `${String(r.streams).padStart(7)}  ${kind.padEnd(7)}  ${f(r[`${kind}_chunks_per_s`]).padStart(8)} (${f(r[`${kind}_chunks_per_s_min`])}-${f(r[`${kind}_chunks_per_s_max`])})`.padEnd(
          44,
        ) +
          `${f((r[`${kind}_busy`] as number) * 100)}%`.padStart(5) +
          `${f((r[`${kind}_sys_share`] as number) * 100)}%`.padStart(8) +
          `  ${f(r[`${kind}_chunks_per_cpu_s`]).padStart(12)}${kind === "ours" ? ` (+parse ${f(r.ours_chunks_per_cpu_s_with_parse)})` : ""}  ${f(r[`${kind}_ttft_p50_ms`], 2)} / ${f(r[`${kind}_ttft_p99_ms`], 2)}${r[`${kind}_loop_lag_p50_ms`] === undefined ? "" : `  loop lag p50 ${f(r[`${kind}_loop_lag_p50_ms`], 2)} ms`}\n`,
      );
    }
    for (const ref of ["raw", "aiohttp"] as const) {
      if (r[`ratio_vs_${ref}`] === undefined) continue;
      process.stdout.write(
        `${String(r.streams).padStart(7)}  ours/${ref}: ${f(r[`ratio_vs_${ref}`], 3)} chunks/s, ${f(r[`cpu_ratio_vs_${ref}`], 3)} chunks/CPU-s (${f(r[`cpu_ratio_with_parse_vs_${ref}`], 3)} with parsing), TTFT p50 ${f(r[`added_ttft_p50_ms_vs_${ref}`], 2)} ms added\n`,
      );
    }
  }
}
