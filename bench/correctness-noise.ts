// Measures honest numeric noise as the correctness judge sees it, to set and check its tolerances:
// honest servers whose logits carry seeded noise (as other GPU kernels give; near-ties flip) against
// a reference server, every output teacher forced by the reference over its whole length. Prints,
// per noise level, the worst per-output figures the tolerances bound (largest gap to the reference's
// best token, lowest token logprob, mean log-likelihood drop, reported-logprob differences, stop
// gap) and how many honest outputs fail at the default tolerances (the false-fail rate; goal 0),
// then the same figures for the subtle cheats (the margin the tolerances leave), and what the two
// baseline bookends (B and B', the same server twice, with the same and with other run-to-run
// numerics) calibrate to.
//
//   node bench/correctness-noise.ts [--requests N] [--max-tokens N] [--json]
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { compareEndpoints } from "../agent/bench/compare-endpoints.ts";
import { runWorkload } from "../agent/bench/run-workload.ts";
import { teacherForce } from "../agent/bench/teacher-force.ts";
import { calibrateThresholds } from "../shared/correctness/calibrate-thresholds.ts";
import { defaultThresholds } from "../shared/correctness/correctness-thresholds.ts";
import { type PromptEvidence, PromptVerdict } from "../shared/gen/cacheon/v1/correctness_pb.ts";
import { WorkloadSpecSchema } from "../shared/gen/cacheon/v1/workload_pb.ts";
import { percentile } from "../shared/stats/summarise.ts";
import { qwenTokenizer } from "../shared/tokenizer/qwen-tokenizer.ts";
import type { SimLlmMode } from "../sim-llm/sim-llm-mode.ts";
import { type RunningSimLlm, type SimLlmOptions, startSimLlm } from "../sim-llm/sim-llm-server.ts";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "12" },
    "max-tokens": { type: "string", default: "256" },
    json: { type: "boolean" },
  },
});
const requests = Number(values.requests);
const maxTokens = Number(values["max-tokens"]);
if (!Number.isInteger(requests) || requests < 1 || !Number.isInteger(maxTokens) || maxTokens < 8) {
  process.stderr.write(
    "usage: node bench/correctness-noise.ts [--requests N>0] [--max-tokens N>=8] [--json]\n",
  );
  process.exit(2);
}

const instant = {
  prefillBaseMs: 0,
  prefillMsPerPromptToken: 0,
  decodeStepBaseMs: 0,
  decodeStepMsPerRunning: 0,
};
const workload = create(WorkloadSpecSchema, {
  model: "Qwen/Qwen2.5-72B-Instruct",
  promptSource: "bundled:cacheon-chat-v1",
  promptChars: 1500,
  requests,
  warmupRequests: 0,
  maxTokens,
  topLogprobs: 5,
  repetitions: 2,
  requestTimeoutMs: 60_000,
  stallTimeoutMs: 30_000,
  arrival: { process: { case: "closedLoop", value: { concurrency: 4 } } },
});
const judge = { tokenizer: qwenTokenizer() };
// The reference: the pinned baseline, with its own kernels' numerics.
const referenceOptions: SimLlmOptions = { timing: instant, numericNoise: 0.02, noiseSeed: 101 };

const servers: RunningSimLlm[] = [];
async function sim(options: SimLlmOptions): Promise<string> {
  const s = await startSimLlm(options);
  servers.push(s);
  return s.url;
}

interface Row {
  name: string;
  outputs: number;
  failed: number;
  codes: string[];
  maxGap: number;
  p99Gap: number;
  minLogprob: number;
  maxDrop: number;
  maxPrefixDiff: number;
  maxMeanPrefixDiff: number;
  maxStopGap: number;
  diverged: number;
}

function row(name: string, evidence: PromptEvidence[]): Row {
  const finite = (xs: number[]) => xs.filter(Number.isFinite);
  const gaps = finite(evidence.map((e) => e.maxTeacherForcedGap)).sort((a, b) => a - b);
  const codes = new Set(evidence.flatMap((e) => e.reasonCodes));
  return {
    name,
    outputs: evidence.length,
    failed: evidence.filter((e) => e.verdict !== PromptVerdict.PASS).length,
    codes: [...codes].sort(),
    maxGap: gaps.at(-1) ?? Number.NaN,
    p99Gap: percentile(gaps, 99),
    minLogprob: Math.min(...finite(evidence.map((e) => e.minTeacherForcedLogprob))),
    maxDrop: Math.max(...finite(evidence.map((e) => e.referenceMeanLogprob - e.teacherForcedMeanLogprob))),
    maxPrefixDiff: Math.max(...evidence.map((e) => e.maxPrefixLogprobDiff)),
    maxMeanPrefixDiff: Math.max(...evidence.map((e) => e.meanPrefixLogprobDiff)),
    maxStopGap: Math.max(0, ...finite(evidence.map((e) => e.stopGap))),
    diverged: evidence.filter((e) => e.diverged).length,
  };
}

async function compareWith(candidate: SimLlmOptions) {
  return compareEndpoints({
    reference: await sim(referenceOptions),
    candidate: await sim({ timing: instant, ...candidate }),
    workload,
    roundSeed: "c0ffee14",
    ...judge,
  });
}

try {
  const honest: Row[] = [];
  const all: PromptEvidence[] = [];
  for (const noise of [0.02, 0.05, 0.1, 0.2]) {
    const evidence: PromptEvidence[] = [];
    for (const seed of [1, 2, 3]) {
      const r = await compareWith({ numericNoise: noise, noiseSeed: seed });
      evidence.push(...r.correctness.promptsEvidence);
    }
    if (noise <= 0.1) all.push(...evidence);
    honest.push(row(`honest, numeric noise ${noise} nats`, evidence));
  }
  honest.push(row("honest, all levels up to 0.1 nats", all));

  const cheats: Row[] = [];
  for (const mode of ["truncate", "near-tie-junk", "wrong-model", "perturbed-logprobs"] as SimLlmMode[]) {
    const r = await compareWith({ mode });
    cheats.push(row(mode, r.correctness.promptsEvidence));
  }

  // The bookends: the same server measured twice, both teacher forced by the second; once with
  // identical numerics, and with run-to-run differences (a server that is not batch-invariant
  // gives other logits on its second run: here the second run's noise has another seed).
  const bookends = async (name: string, secondNoiseSeed: number) => {
    const b = await sim(referenceOptions);
    const bPrime = await sim({ ...referenceOptions, noiseSeed: secondNoiseSeed });
    const runOf = (url: string) => runWorkload({ endpoint: url, workload, roundSeed: "c0ffee14" });
    const [opening, closing] = [await runOf(b), await runOf(bPrime)];
    const force = (outputs: typeof opening.outputs) =>
      teacherForce({
        reference: bPrime,
        model: workload.model,
        outputs,
        prompts: opening.prompts,
        topK: 5,
        ...judge,
      });
    const c = calibrateThresholds({
      opening: opening.outputs,
      closing: closing.outputs,
      openingTeacherForced: await force(opening.outputs),
      closingTeacherForced: await force(closing.outputs),
      request: { maxTokens },
      tokenizer: judge.tokenizer,
    });
    return { name, passed: c.passed, reason: c.reason, observed: c.observed, lines: c.lines };
  };
  const calibrations = [
    await bookends("B vs B' (same server twice, same numerics)", referenceOptions.noiseSeed ?? 0),
    await bookends("B vs B' (same server twice, run-to-run numerics differ)", 202),
  ];

  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ defaults: defaultThresholds, honest, cheats, calibrations }, null, 2)}\n`,
    );
  } else {
    const f = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "-");
    const header =
      "                                    outputs  failed  diverged  max gap  p99 gap  min lp   max drop  max|dlp|  mean|dlp|  stop gap  codes";
    const line = (r: Row) =>
      `${r.name.padEnd(36)}${String(r.outputs).padStart(7)}${String(r.failed).padStart(8)}${String(r.diverged).padStart(10)}${f(r.maxGap).padStart(9)}${f(r.p99Gap).padStart(9)}${f(r.minLogprob).padStart(8)}${f(r.maxDrop).padStart(10)}${f(r.maxPrefixDiff).padStart(10)}${f(r.maxMeanPrefixDiff).padStart(11)}${f(r.maxStopGap).padStart(10)}  ${r.codes.join(",")}`;
    process.stdout.write(
      [
        `workload: ${requests} requests x 2 repetitions per server, max_tokens ${maxTokens}, top_logprobs 5; reference: sim with numeric noise 0.02`,
        `default tolerances: ${Object.entries(defaultThresholds)
          .map(([k, v]) => `${k}=${v}`)
          .join(" ")}`,
        "",
        header,
        ...honest.map(line),
        "",
        "subtle and plain cheats, same workload:",
        ...cheats.map(line),
        "",
        ...calibrations.flatMap((c) => [
          `bookends ${c.name}: ${c.passed ? "pass" : `FAIL ${c.reason}`}`,
          ...c.lines.map((l) => `  ${l}`),
        ]),
        "",
      ].join("\n"),
    );
  }
} finally {
  await Promise.all(servers.map((s) => s.close()));
}
