import { randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import type { ConfigSchema } from "../../shared/config/config-schema.ts";
import { type LoadedConfig, loadConfig } from "../../shared/config/load-config.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type WorkloadSpec, WorkloadSpecSchema } from "../../shared/gen/cacheon/v1/workload_pb.ts";
import { parseHexSeed } from "../../shared/stats/seeded-random.ts";
import { planWorkload } from "../../shared/workload/plan-workload.ts";
import { newPromptSecret, parsePromptSecret, promptKey } from "../../shared/workload/prompt-key.ts";
import { workloadPromptsMessage } from "../../shared/workload/workload-prompts-message.ts";
import { bundledCorpusName } from "../workload/bundled-corpus.ts";
import { parsePromptJsonl, promptFileSha256, readPromptFile } from "../workload/load-workload-prompts.ts";
import type { Prompt } from "../workload/prompt.ts";
import { scheduleFromJob, type TimedSchedule } from "../workload/timed-schedule.ts";

/** Workload settings shared by `bench` and `compare` (file < CACHEON_BENCH_* env < flags). */
export const workloadConfigSchema: ConfigSchema = {
  model: { type: "string", doc: "Model name sent in every request.", required: true, flag: "model" },
  requests: { type: "integer", doc: "Timed requests per repetition.", default: 10, min: 1, flag: "requests" },
  concurrency: {
    type: "integer",
    doc: "Requests in flight (closed loop), or the cap with --rate.",
    default: 1,
    min: 1,
    flag: "concurrency",
  },
  rate: {
    type: "number",
    doc: "Poisson arrivals at this many requests/s instead of a closed loop; 0 = closed loop.",
    default: 0,
    min: 0,
    flag: "rate",
  },
  maxTokens: {
    type: "integer",
    doc: "max_tokens of every request.",
    default: 512,
    min: 1,
    flag: "max-tokens",
  },
  fixedLength: {
    type: "boolean",
    doc: "Ask for exactly max_tokens tokens (ignore_eos + min_tokens).",
    default: false,
    flag: "fixed-length",
  },
  topLogprobs: {
    type: "integer",
    doc: "top_logprobs per token (0 turns logprobs off and with them the token check).",
    default: 5,
    min: 0,
    max: 20,
    flag: "top-logprobs",
  },
  warmup: {
    type: "integer",
    doc: "Warm-up requests, excluded from every metric.",
    default: 2,
    min: 0,
    flag: "warmup",
  },
  repetitions: {
    type: "integer",
    doc: "Repetitions of the timed requests; wall time is their median.",
    default: 1,
    min: 1,
    flag: "repetitions",
  },
  seed: {
    type: "string",
    doc: "Round seed, hex; picks and orders prompts. Default: random, printed.",
    flag: "seed",
  },
  prompts: {
    type: "string",
    doc: "Private JSONL prompt file ({id, prompt} or {id, messages} per line) instead of the bundled corpus.",
    flag: "prompts",
  },
  promptTokens: {
    type: "integer",
    doc: "Generate fresh prompts of this many Qwen2.5 chat-template tokens for this run, with canaries and probes, as validators send (0 = the bundled pool or --prompts FILE).",
    default: 0,
    min: 0,
    max: 32768,
    flag: "prompt-tokens",
  },
  canaries: {
    type: "integer",
    doc: "With --prompt-tokens: canary requests added to each repetition.",
    default: 2,
    min: 0,
    flag: "canaries",
  },
  probes: {
    type: "integer",
    doc: "With --prompt-tokens: probe prompts repeated in every repetition.",
    default: 2,
    min: 0,
    flag: "probes",
  },
  promptChars: {
    type: "integer",
    doc: "Build bundled prompts of about this many characters (0 = natural length).",
    default: 0,
    min: 0,
    flag: "prompt-chars",
  },
  requestTimeoutMs: {
    type: "integer",
    doc: "A request not done after this many ms fails with timeout.",
    default: 120000,
    min: 1,
    flag: "timeout-ms",
  },
  stallTimeoutMs: {
    type: "integer",
    doc: "A stream silent this many ms fails with stall.",
    default: 30000,
    min: 1,
    flag: "stall-ms",
  },
};

/** What a loaded workload configuration resolves to. */
export interface ResolvedWorkload {
  workload: WorkloadSpec;
  seed: string;
  /** Prompts from --prompts, or undefined for the bundled corpus. */
  prompts: Prompt[] | undefined;
  /** With --prompt-tokens: this run's generated prompts and their order, for every endpoint alike. */
  schedule?: TimedSchedule;
}

/** Builds the WorkloadSpec, the seed and the prompt pool from loaded configuration. */
export function resolveWorkload(config: LoadedConfig): ResolvedWorkload {
  const v = config.values;
  const seed = typeof v.seed === "string" && v.seed !== "" ? v.seed : randomBytes(16).toString("hex");
  parseHexSeed(seed);
  let prompts: Prompt[] | undefined;
  let promptSource = `bundled:${bundledCorpusName}`;
  if (typeof v.prompts === "string" && v.prompts !== "") {
    const text = readPromptFile(v.prompts);
    prompts = parsePromptJsonl(text, v.prompts);
    promptSource = `sha256:${promptFileSha256(text)}`;
  }
  const rate = v.rate as number;
  const concurrency = v.concurrency as number;
  if (rate < 0 || !Number.isFinite(rate))
    throw new CacheonError("invalid-config", `rate must be >= 0, got ${rate}`);
  const workload = create(WorkloadSpecSchema, {
    model: v.model as string,
    promptSource,
    requests: v.requests as number,
    warmupRequests: v.warmup as number,
    maxTokens: v.maxTokens as number,
    fixedOutputLength: v.fixedLength as boolean,
    topLogprobs: v.topLogprobs as number,
    repetitions: v.repetitions as number,
    promptChars: v.promptChars as number,
    requestTimeoutMs: v.requestTimeoutMs as number,
    stallTimeoutMs: v.stallTimeoutMs as number,
    arrival:
      rate > 0
        ? { process: { case: "poisson", value: { ratePerS: rate, maxConcurrency: concurrency } } }
        : { process: { case: "closedLoop", value: { concurrency } } },
  });
  const promptTokens = v.promptTokens as number;
  if (promptTokens > 0) {
    if (prompts)
      throw new CacheonError("invalid-config", "give --prompts FILE or --prompt-tokens N, not both");
    // A secret of this run's own: the prompts are new to every server it measures.
    const plan = planWorkload({
      key: promptKey(parsePromptSecret(newPromptSecret()), seed),
      requests: workload.requests,
      canaries: v.canaries as number,
      probes: v.probes as number,
      repetitions: workload.repetitions,
      warmup: workload.warmupRequests,
      targetTokens: promptTokens,
    });
    workload.promptSource = `generated:${plan.generator}`;
    workload.promptTokens = promptTokens;
    workload.canaryRequests = v.canaries as number;
    workload.probePrompts = v.probes as number;
    return { workload, seed, prompts, schedule: scheduleFromJob(workloadPromptsMessage(plan)) };
  }
  return { workload, seed, prompts };
}

/**
 * Loads the workload settings from `--config FILE`, then CACHEON_BENCH_* environment variables,
 * then flags, and resolves them; every invalid field is reported at once.
 */
export function loadWorkloadConfig(
  flags: Record<string, string | boolean | string[] | undefined>,
  env: Record<string, string | undefined>,
): ResolvedWorkload {
  const config = loadConfig({
    schema: workloadConfigSchema,
    file: flags.config as string | undefined,
    env,
    envPrefix: "CACHEON_BENCH_",
    flags,
  });
  return resolveWorkload(config);
}
