/**
 * How close the bench client's TTFT and TPOT are to the truth, against the reference server
 * (sim-llm in a worker thread) with injected step costs: the truth is when the server handed
 * each token to its socket, on a clock aligned with the client's. Prints per-request error
 * percentiles at each concurrency; the goal is |error| < 1 ms at 1 and 64 streams.
 *
 *   node bench/bench-client-accuracy.ts [--levels 1,64] [--prefill-ms 150] [--decode-ms 10] [--tokens 48]
 */
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { runWorkload } from "../agent/bench/run-workload.ts";
import { errorsAgainstServer, startSimWorker } from "../agent/bench/testing/sim-worker.ts";
import { WorkloadSpecSchema } from "../shared/gen/cacheon/v1/workload_pb.ts";
import { percentile } from "../shared/stats/summarise.ts";

const { values } = parseArgs({
  options: {
    levels: { type: "string", default: "1,64" },
    "prefill-ms": { type: "string", default: "150" },
    "decode-ms": { type: "string", default: "10" },
    tokens: { type: "string", default: "48" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  process.stdout.write(
    "node bench/bench-client-accuracy.ts [--levels 1,64] [--prefill-ms 150] [--decode-ms 10] [--tokens 48]\n",
  );
  process.exit(0);
}
const prefill = Number(values["prefill-ms"]);
const decode = Number(values["decode-ms"]);
const tokens = Number(values.tokens);
const prompts = Array.from({ length: 256 }, (_, i) => ({
  id: `short-${i}`,
  messages: [{ role: "user" as const, content: `Count to ${i + 3}, please.` }],
}));

process.stdout.write(
  `client error against the server's own write times (prefill ${prefill} ms, decode ${decode} ms, ${tokens} tokens)\n` +
    "streams  requests  TTFT error p10/p50/p90 ms        TPOT error p10/p50/p90 ms     injected TPOT vs measured p50\n",
);
for (const level of (values.levels as string).split(",").map(Number)) {
  const sim = await startSimWorker({
    timing: {
      prefillBaseMs: prefill,
      prefillMsPerPromptToken: 0,
      decodeStepBaseMs: decode,
      decodeStepMsPerRunning: 0,
      maxBatch: 512,
    },
  });
  try {
    const requests = Math.max(level, 16);
    const run = await runWorkload({
      endpoint: sim.url,
      prompts,
      roundSeed: "acc0",
      workload: create(WorkloadSpecSchema, {
        model: "Qwen/Qwen2.5-72B-Instruct",
        requests,
        warmupRequests: 2,
        maxTokens: tokens,
        fixedOutputLength: true,
        topLogprobs: 5,
        repetitions: 1,
        arrival: { process: { case: "closedLoop", value: { concurrency: level } } },
      }),
    });
    const { ttft, tpot } = await errorsAgainstServer(run, sim);
    const p = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      return [10, 50, 90].map((q) => percentile(s, q).toFixed(3).padStart(7)).join(" ");
    };
    process.stdout.write(
      `${String(level).padStart(7)}  ${String(ttft.length).padStart(8)}  ${p(ttft)}        ${p(tpot)}     ${decode} vs ${(run.summary.tpotMs?.p50 ?? 0).toFixed(3)}\n`,
    );
  } finally {
    await sim.close();
  }
}
