/**
 * The bench client's own ceiling: streamed chunks per second and added TTFT at 1, 64 and 256
 * concurrent streams, with the client pinned to one core (taskset -c 0) against a zero-delay SSE
 * server on the other cores. Reported as ratios against a minimal raw node:http reader (no SSE
 * parsing, no JSON, a byte search for the first token) measured in the same run against the same
 * server, alternating trials so machine noise hits both alike.
 *
 * With --token-ms the server paces tokens (one per stream every that many ms, as a real server
 * would) instead of flooding: the added TTFT then shows the client's error at a realistic load.
 *
 *   node bench/bench-client-ceiling.ts [--levels 1,64,256] [--tokens 128] [--trials 3] [--token-ms 0] [--json]
 */
import { execFileSync, spawn } from "node:child_process";
import { Agent, createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { availableParallelism } from "node:os";
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

/** One measured client run. */
interface ClientResult {
  wallS: number;
  chunks: number;
  ttftP50: number;
  ttftP99: number;
}

if (values.help) {
  process.stdout.write(
    "node bench/bench-client-ceiling.ts [--levels 1,64,256] [--tokens 128] [--trials 3] [--json]\nPrints the bench client's chunks/s and added TTFT on one core against a minimal raw node:http reader.\n",
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
          res.write(chunks[i++] as string);
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
  if (kind === "ours") {
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
    });
    if (run.summary.failed > 0) throw new Error(`ours: ${JSON.stringify(run.summary.failuresByCode)}`);
    return {
      wallS: run.summary.wallS,
      chunks: run.requests.reduce((n, r) => n + r.contentChunks, 0),
      ttftP50: run.summary.ttftMs?.p50 ?? Number.NaN,
      ttftP99: run.summary.ttftMs?.p99 ?? Number.NaN,
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
  const start = performance.now();
  await loop(requests, ttfts);
  const wallS = (performance.now() - start) / 1000;
  agent.destroy();
  ttfts.sort((a, b) => a - b);
  return { wallS, chunks: requests * tokens, ttftP50: percentile(ttfts, 50), ttftP99: percentile(ttfts, 99) };
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
  ]);
  const server = spawn(serverCmd, serverArgs, { stdio: ["ignore", "pipe", "inherit"] });
  const url = await new Promise<string>((resolve, reject) => {
    server.stdout.once("data", (b: Buffer) => resolve(JSON.parse(b.toString()).url));
    server.once("exit", (code) => reject(new Error(`server exited ${code}`)));
  });
  const rows: Array<Record<string, number>> = [];
  try {
    for (const level of (values.levels as string).split(",").map(Number)) {
      const requests = tokenMs > 0 ? Math.max(level, 16) : Math.max(2 * level, 32);
      const trials: Record<"ours" | "raw", ClientResult[]> = { ours: [], raw: [] };
      for (let t = 0; t < Number(values.trials); t++) {
        for (const kind of t % 2 === 0 ? (["ours", "raw"] as const) : (["raw", "ours"] as const)) {
          const [cmd, args] = pin("0", [
            process.execPath,
            self,
            "--client",
            kind,
            "--url",
            url,
            "--concurrency",
            String(level),
            "--requests",
            String(requests),
            "--tokens",
            String(tokens),
          ]);
          const out = execFileSync(cmd, args, { encoding: "utf8", maxBuffer: 1 << 20 });
          trials[kind].push(JSON.parse(out.trim().split("\n").pop() as string) as ClientResult);
        }
      }
      const rate = (rs: ClientResult[]) => median(rs.map((r) => r.chunks / r.wallS));
      const ttft = (rs: ClientResult[]) => median(rs.map((r) => r.ttftP50));
      const ttft99 = (rs: ClientResult[]) => median(rs.map((r) => r.ttftP99));
      rows.push({
        streams: level,
        ours_chunks_per_s: rate(trials.ours),
        raw_chunks_per_s: rate(trials.raw),
        chunks_per_s_ratio: rate(trials.ours) / rate(trials.raw),
        ours_ttft_p50_ms: ttft(trials.ours),
        raw_ttft_p50_ms: ttft(trials.raw),
        added_ttft_p50_ms: ttft(trials.ours) - ttft(trials.raw),
        ours_ttft_p99_ms: ttft99(trials.ours),
        raw_ttft_p99_ms: ttft99(trials.raw),
      });
    }
  } finally {
    server.kill("SIGTERM");
  }
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ cores, taskset: hasTaskset, tokens, tokenMs, rows }, null, 2)}\n`,
    );
    return;
  }
  process.stdout.write(
    `bench client ceiling: client on 1 core${hasTaskset && cores > 1 ? " (taskset -c 0)" : " (no taskset: unpinned)"}, ${tokenMs > 0 ? `server pacing one token per ${tokenMs} ms per stream` : "zero-delay server"} on ${cores > 2 ? `cores 1-${cores - 1}` : "core 1"}, ${tokens} tokens/stream, median of ${values.trials} trials\n`,
  );
  process.stdout.write(
    "streams  ours chunks/s  raw chunks/s  ratio   ours TTFT p50  raw TTFT p50  added TTFT p50  (p99 ours/raw)\n",
  );
  for (const r of rows) {
    process.stdout.write(
      `${String(r.streams).padStart(7)}  ${(r.ours_chunks_per_s as number).toFixed(0).padStart(13)}  ${(r.raw_chunks_per_s as number).toFixed(0).padStart(12)}  ${(r.chunks_per_s_ratio as number).toFixed(3)}  ${(r.ours_ttft_p50_ms as number).toFixed(3).padStart(12)} ms  ${(r.raw_ttft_p50_ms as number).toFixed(3).padStart(9)} ms  ${(r.added_ttft_p50_ms as number).toFixed(3).padStart(11)} ms  (${(r.ours_ttft_p99_ms as number).toFixed(2)}/${(r.raw_ttft_p99_ms as number).toFixed(2)} ms)\n`,
    );
  }
}
