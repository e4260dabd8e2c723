/**
 * What making a job's prompts costs the controller: the time to plan a default workload (2 warm-up,
 * 2 probes, 3 repetitions of 10 scored + 2 canaries: 40 prompts of 6,144 tokens), per prompt and per
 * job, and the job's size on the wire, against the reference measured in the same run: one Qwen2.5
 * encode of each finished prompt (the least any sizing to real tokens must cost).
 *
 *   node bench/prompt-generation.ts [--tokens 6144] [--requests 10] [--repetitions 3] [--json]
 */

import { parseArgs } from "node:util";
import { toBinary } from "@bufbuild/protobuf";
import { WorkloadPromptsSchema } from "../shared/gen/cacheon/v1/workload_pb.ts";
import { applyQwenChatTemplate } from "../shared/tokenizer/qwen-chat-template.ts";
import { qwenTokenizer } from "../shared/tokenizer/qwen-tokenizer.ts";
import { planWorkload } from "../shared/workload/plan-workload.ts";
import { newPromptSecret, parsePromptSecret, promptKey } from "../shared/workload/prompt-key.ts";
import { workloadPromptsMessage } from "../shared/workload/workload-prompts-message.ts";

const { values } = parseArgs({
  options: {
    tokens: { type: "string", default: "6144" },
    requests: { type: "string", default: "10" },
    repetitions: { type: "string", default: "3" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  process.stdout.write(
    "node bench/prompt-generation.ts [--tokens 6144] [--requests 10] [--repetitions 3] [--json]\nPrints the time to make a job's prompts and its size, against one tokenizer encode per prompt.\n",
  );
  process.exit(0);
}

const tokenizer = qwenTokenizer();
const key = promptKey(parsePromptSecret(newPromptSecret()), "00");
// Warm-up: JIT, corpus and tokenizer loading stay out of the timed plan.
planWorkload({ key, requests: 1, repetitions: 1, targetTokens: Number(values.tokens) });

const started = performance.now();
const plan = planWorkload({
  key: promptKey(parsePromptSecret(newPromptSecret()), "01"),
  requests: Number(values.requests),
  canaries: 2,
  probes: 2,
  repetitions: Number(values.repetitions),
  warmup: 2,
  targetTokens: Number(values.tokens),
});
const planMs = performance.now() - started;

const refStarted = performance.now();
let tokens = 0;
for (const p of plan.prompts) tokens += tokenizer.count(applyQwenChatTemplate(p.messages));
const encodeMs = performance.now() - refStarted;

const bytes = toBinary(WorkloadPromptsSchema, workloadPromptsMessage(plan)).length;
const result = {
  prompts: plan.prompts.length,
  meanPromptTokens: Math.round(tokens / plan.prompts.length),
  planMs: Math.round(planMs),
  msPerPrompt: Number((planMs / plan.prompts.length).toFixed(1)),
  encodeMsPerPrompt: Number((encodeMs / plan.prompts.length).toFixed(1)),
  planOverEncode: Number((planMs / encodeMs).toFixed(1)),
  jobPromptBytes: bytes,
  bytesPerToken: Number((bytes / tokens).toFixed(2)),
};
if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
else {
  process.stdout.write(
    `${result.prompts} prompts of ~${result.meanPromptTokens} tokens planned in ${result.planMs} ms ` +
      `(${result.msPerPrompt} ms each; one encode of each is ${result.encodeMsPerPrompt} ms: x${result.planOverEncode})\n` +
      `the job carries them in ${(bytes / 2 ** 20).toFixed(2)} MiB of protobuf (${result.bytesPerToken} bytes per token; the control plane allows 4 MiB)\n`,
  );
}
