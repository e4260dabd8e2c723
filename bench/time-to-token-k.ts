// Compares the two speed statistics on the same runs: whole-wall (reference wall time of the
// workload / candidate's) and time to token k (median over requests of reference time / candidate
// time to the k-th token, k the fewer tokens of the two), for honest servers and for servers that
// game the length or the stream: how much each gains under each statistic. The reference figures
// are the honest server at the baseline's own speed and one 5% faster, measured in the same run.
//
//   node bench/time-to-token-k.ts [--requests N] [--max-tokens N] [--repetitions N] [--json]
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { compareEndpoints } from "../agent/bench/compare-endpoints.ts";
import { WorkloadSpecSchema } from "../shared/gen/cacheon/v1/workload_pb.ts";
import type { SimLlmMode } from "../sim-llm/sim-llm-mode.ts";
import { type RunningSimLlm, type SimLlmOptions, startSimLlm } from "../sim-llm/sim-llm-server.ts";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "8" },
    "max-tokens": { type: "string", default: "160" },
    repetitions: { type: "string", default: "2" },
    json: { type: "boolean" },
  },
});
const requests = Number(values.requests);
const maxTokens = Number(values["max-tokens"]);
const repetitions = Number(values.repetitions);
if (![requests, maxTokens, repetitions].every((n) => Number.isInteger(n) && n > 0)) {
  process.stderr.write(
    "usage: node bench/time-to-token-k.ts [--requests N] [--max-tokens N] [--repetitions N] [--json]\n",
  );
  process.exit(2);
}

// A stand-in for a 72B server's pace, scaled down: prefill by prompt length, then a decode step per token.
const timing = {
  prefillBaseMs: 15,
  prefillMsPerPromptToken: 0.05,
  decodeStepBaseMs: 6,
  decodeStepMsPerRunning: 0,
};
const workload = create(WorkloadSpecSchema, {
  model: "Qwen/Qwen2.5-72B-Instruct",
  promptSource: "bundled:cacheon-chat-v1",
  promptChars: 3000,
  requests,
  warmupRequests: 1,
  maxTokens,
  topLogprobs: 5,
  repetitions,
  requestTimeoutMs: 120_000,
  stallTimeoutMs: 60_000,
  arrival: { process: { case: "closedLoop", value: { concurrency: 4 } } },
});

const candidates: { name: string; options: SimLlmOptions }[] = [
  { name: "honest, the baseline's speed", options: { numericNoise: 0.05, noiseSeed: 7 } },
  { name: "honest, 5% faster", options: { speed: 1.05, numericNoise: 0.05, noiseSeed: 7 } },
  ...(
    ["truncate", "early-stop", "near-tie-junk", "near-tie-junk-ids", "stream-buffering"] as SimLlmMode[]
  ).map((mode) => ({ name: `${mode} (baseline's speed otherwise)`, options: { mode } })),
];

const servers: RunningSimLlm[] = [];
async function sim(options: SimLlmOptions): Promise<string> {
  const s = await startSimLlm({ timing, ...options });
  servers.push(s);
  return s.url;
}

try {
  const rows = [];
  for (const c of candidates) {
    const r = await compareEndpoints({
      reference: await sim({}),
      candidate: await sim(c.options),
      workload,
      roundSeed: "7e57",
    });
    const tokens = (run: typeof r.reference) =>
      run.outputs.reduce((n, o) => n + o.tokens.length, 0) / Math.max(1, run.outputs.length);
    rows.push({
      name: c.name,
      wallRatio: r.wallRatio,
      tokenKRatio: r.speedRatio,
      referenceTokens: tokens(r.reference),
      candidateTokens: tokens(r.candidate),
      correct: r.correctness.passed,
      codes: [...new Set(r.correctness.promptsEvidence.flatMap((e) => e.reasonCodes))].sort(),
    });
  }
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ workload: { requests, maxTokens, repetitions }, rows }, null, 2)}\n`,
    );
  } else {
    const pct = (x: number) => `${x >= 1 ? "+" : ""}${((x - 1) * 100).toFixed(1)}%`;
    process.stdout.write(
      [
        `workload: ${requests} requests x ${repetitions} repetitions, max_tokens ${maxTokens}, concurrency 4, bundled prompts of ~3,000 characters`,
        "speed against a reference at the baseline's speed, measured just before each candidate (above 1: faster)",
        "",
        `${"candidate".padEnd(48)}${"tokens ref/cand".padStart(16)}${"whole-wall".padStart(16)}${"time to k".padStart(16)}  correctness`,
        ...rows.map(
          (r) =>
            `${r.name.padEnd(48)}${`${r.referenceTokens.toFixed(0)}/${r.candidateTokens.toFixed(0)}`.padStart(16)}${`${r.wallRatio.toFixed(3)} ${pct(r.wallRatio)}`.padStart(16)}${`${r.tokenKRatio.toFixed(3)} ${pct(r.tokenKRatio)}`.padStart(16)}  ${r.correct ? "pass" : `FAIL ${r.codes.join(",")}`}`,
        ),
        "",
      ].join("\n"),
    );
  }
} finally {
  await Promise.all(servers.map((s) => s.close()));
}
