import { type CliCommand, type CommandIo, ExitCode } from "../../shared/cli/cli-command.ts";
import { createProgressBar, type ProgressBar } from "../../shared/cli/progress-bar.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { findingsAgainstServer } from "../../shared/findings/findings-against-server.ts";
import { loadWorkloadConfig } from "../bench/bench-config.ts";
import { runWorkload } from "../bench/run-workload.ts";
import { writeReportFile } from "../bench/write-report-files.ts";
import { benchReportJson } from "../report/bench-report.ts";
import { formatBenchSummary } from "../report/format-summary.ts";
import { renderHtmlReport } from "../report/render-html-report.ts";

/** Flags of the workload settings, shared with `compare`. */
export const workloadFlags = {
  config: { type: "string" },
  model: { type: "string" },
  requests: { type: "string" },
  concurrency: { type: "string" },
  rate: { type: "string" },
  "max-tokens": { type: "string" },
  "fixed-length": { type: "boolean" },
  "top-logprobs": { type: "string" },
  warmup: { type: "string" },
  repetitions: { type: "string" },
  seed: { type: "string" },
  prompts: { type: "string" },
  "prompt-chars": { type: "string" },
  "prompt-tokens": { type: "string" },
  canaries: { type: "string" },
  probes: { type: "string" },
  "timeout-ms": { type: "string" },
  "stall-ms": { type: "string" },
  json: { type: "string" },
  html: { type: "string" },
} as const;

/** Help lines of the workload flags, shared with `compare`. */
export const workloadFlagsHelp = `  --model NAME          model name sent in every request (required)
  --requests N          timed requests per repetition (default 10)
  --concurrency C       requests in flight (default 1); with --rate, the cap on them
  --rate R              Poisson arrivals at R requests/s instead of a closed loop
  --max-tokens T        max_tokens of every request (default 512)
  --fixed-length        ask for exactly T tokens (ignore_eos + min_tokens)
  --top-logprobs K      alternatives per token (default 5; 0 turns logprobs off)
  --warmup N            warm-up requests, excluded from every metric (default 2)
  --repetitions N       repeat the timed requests N times; wall time is the median (default 1)
  --seed HEX            round seed: picks and orders prompts (default: random, printed)
  --prompts FILE        private JSONL prompts ({"id","prompt"} or {"id","messages"} per line)
  --prompt-chars N      build bundled prompts of about N characters (default: natural length)
  --prompt-tokens N     fresh prompts of N Qwen2.5 tokens made for this run from a secret of its
                        own, with canaries and probes, as validators send (default: bundled pool)
  --canaries N          with --prompt-tokens: canary requests per repetition (default 2)
  --probes N            with --prompt-tokens: probe prompts repeated every repetition (default 2)
  --timeout-ms MS       a request not done after MS fails with "timeout" (default 120000)
  --stall-ms MS         a stream silent for MS fails with "stall" (default 30000)
  --config FILE         YAML/JSON file with these settings (camelCase keys, e.g. maxTokens);
                        environment CACHEON_BENCH_<KEY> (e.g. CACHEON_BENCH_MAX_TOKENS) overrides it,
                        flags override both
  --json FILE           write the JSON report to FILE ("-" for stdout)
  --html FILE           write a self-contained HTML report with plots to FILE`;

/** `cacheon-agent bench`: measures one OpenAI-compatible streaming server. */
export const benchCommand: CliCommand = {
  name: "bench",
  summary: "measure a streaming OpenAI-compatible server: TTFT, TPOT, ITL, E2E, throughput, failures",
  help: `Usage: cacheon-agent bench --endpoint URL --model NAME [options]

Sends a seeded workload of streamed chat completions (greedy, logprobs, usage) and measures
each request from the bytes as they arrive: TTFT at the first chunk with content (a role-only
chunk does not count), E2E at the last content chunk, tokens counted from the per-token
logprobs and checked against usage, TPOT, inter-chunk gaps, client queueing, throughput.
Streams that exceed max_tokens, stall, time out, send oversized or invalid data, or end without
[DONE] are failures with a reason. Repeated prompts that get much faster are flagged (cache).
The client reports its own CPU use and event-loop lag in each timed window and notes
"client-bound" when this machine, not the server, limited the measurement (a note, not a failure).

Options:
  --endpoint URL        the server, e.g. http://127.0.0.1:8000 (or its /v1/chat/completions URL)
${workloadFlagsHelp}
  -h, --help            this help

JSON report keys: endpoint, model, seed, requests, completed, failed, wall_s, repetition_wall_s,
wall_cv, output_tokens, output_tokens_per_s, requests_per_s, token_count_source (logprobs |
usage | chunks | unknown), ttft_ms, tpot_ms, itl_ms, e2e_ms, queued_ms (each {mean, p50, p90,
p99, min, max, count}), failures_by_code, findings, per_request.

Exit codes: 0 every request completed and nothing was flagged; 1 some failed or a finding
(other than client-bound) was flagged; 2 usage or configuration error, or the server could not be reached at all.

Examples:
  cacheon-agent bench --endpoint http://127.0.0.1:8000 --model Qwen/Qwen2.5-72B-Instruct
  cacheon-agent bench --endpoint http://gpu-pod:8000 --model Qwen/Qwen2.5-72B-Instruct \\
      --requests 200 --concurrency 64 --max-tokens 256 --seed 5eed --json out.json --html out.html
`,
  options: { endpoint: { type: "string" }, ...workloadFlags },
  async run(values, _positionals, io) {
    const endpoint = values.endpoint as string | undefined;
    if (!endpoint)
      throw new CacheonError(
        "invalid-argument",
        "--endpoint is required, e.g. --endpoint http://127.0.0.1:8000",
      );
    const { workload, seed, prompts, schedule } = loadWorkloadConfig(values, io.env);
    const bar = progress(io, "bench");
    const run = await runWorkload({
      endpoint,
      workload,
      roundSeed: seed,
      prompts,
      ...(schedule ? { schedule } : {}),
      armId: "bench",
      // Nothing here judges outputs: keeping them would only cost memory on long runs.
      keepOutputs: false,
      signal: io.signal,
      onProgress: (done, total) => bar.update(done, total),
    });
    bar.finish(`${run.summary.failed} failed`);
    const report = benchReportJson({
      endpoint,
      model: workload.model,
      seed,
      summary: run.summary,
      requests: run.requests,
    });
    if (values.json !== "-") io.stdout.write(formatBenchSummary(report));
    if (values.json)
      writeReportFile(values.json as string, `${JSON.stringify(report, null, 2)}\n`, io.stdout);
    if (values.html) {
      writeReportFile(
        values.html as string,
        renderHtmlReport({
          title: `cacheon bench: ${endpoint}`,
          arms: [{ name: endpoint, report, timeline: run.timeline }],
        }),
        io.stdout,
      );
    }
    if (report.completed === 0 && (report.failures_by_code.connection ?? 0) === report.requests) {
      io.stderr.write(
        `cacheon-agent bench: could not connect to ${endpoint}: is the server up? (${report.per_request[0]?.failure_detail ?? ""})\n`,
      );
      return ExitCode.usage;
    }
    // A client-bound finding is this machine's limitation, not the server's: reported, not failed.
    return report.failed === 0 && findingsAgainstServer(report.findings).length === 0
      ? ExitCode.ok
      : ExitCode.negative;
  },
};

/** A progress bar on stderr that learns its total from the first update. */
export function progress(
  io: CommandIo,
  label: string,
): { update(done: number, total: number, note?: string): void; finish(note?: string): void } {
  let bar: ProgressBar | undefined;
  let shownTotal = -1;
  let shownLabel = label;
  return {
    update(done, total, note) {
      if (!bar || total !== shownTotal) {
        if (bar) bar.finish();
        shownTotal = total;
        bar = createProgressBar({ label: shownLabel, total, stream: io.stderr });
      }
      bar.update(done, note);
    },
    finish(note) {
      bar?.finish(note);
      bar = undefined;
      shownLabel = label;
    },
  };
}
