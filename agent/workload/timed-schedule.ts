import type { PromptKind } from "../../shared/correctness/generated-output.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import type { EvaluationJob } from "../../shared/gen/cacheon/v1/job_pb.ts";
import type { WorkloadPrompts } from "../../shared/gen/cacheon/v1/workload_pb.ts";
import { promptKinds } from "../../shared/workload/plan-workload.ts";
import type { ChatMessage, Prompt } from "./prompt.ts";
import { selectPrompts } from "./select-prompts.ts";

/** What an arm is sent: warm-up prompts, then each timed repetition's prompts in order, with their kinds. */
export interface TimedSchedule {
  /** Sent first, excluded from every metric. */
  warmup: Prompt[];
  /** Per repetition, the prompts in send order; each carries its kind. */
  repetitions: Prompt[][];
}

const roles = new Set(["system", "user", "assistant"]);

/**
 * The schedule a job carries (EvaluationJob.prompts), checked: unique prompt ids, messages with
 * known roles, every referenced id defined, known kinds, and no prompt timed twice unless it is a
 * probe (repeating any other prompt would pay a response cache). Throws "invalid-argument" listing
 * every problem, so a malformed job is refused rather than measured.
 */
export function scheduleFromJob(message: WorkloadPrompts): TimedSchedule {
  const problems: string[] = [];
  const byId = new Map<string, Prompt>();
  for (const [i, p] of message.prompts.entries()) {
    if (!p.promptId) problems.push(`prompt ${i} has no id`);
    else if (byId.has(p.promptId)) problems.push(`prompt id "${p.promptId}" is used twice`);
    if (p.messages.length === 0) problems.push(`prompt "${p.promptId}" has no messages`);
    const bad = p.messages.find((m) => !roles.has(m.role));
    if (bad) problems.push(`prompt "${p.promptId}" has a message with role "${bad.role}"`);
    byId.set(p.promptId, {
      id: p.promptId,
      messages: p.messages.map((m) => ({ role: m.role as ChatMessage["role"], content: m.content })),
    });
  }
  const lookup = (id: string, where: string): Prompt | undefined => {
    const prompt = byId.get(id);
    if (!prompt) problems.push(`${where} names prompt "${id}", which the job does not carry`);
    return prompt;
  };
  const warmup = message.warmupPromptIds.flatMap((id) => lookup(id, "a warm-up request") ?? []);
  if (message.repetitions.length === 0) problems.push("the schedule has no timed repetition");
  const timed = new Map<string, PromptKind>();
  const repetitions = message.repetitions.map((rep, r) => {
    if (rep.requests.length === 0) problems.push(`repetition ${r} has no requests`);
    const seen = new Set<string>();
    return rep.requests.flatMap((request, i) => {
      const where = `repetition ${r} request ${i}`;
      const kind = request.kind as PromptKind;
      if (!promptKinds.includes(kind)) problems.push(`${where} has kind "${request.kind}"`);
      const prompt = lookup(request.promptId, where);
      if (!prompt) return [];
      const before = timed.get(request.promptId);
      if (seen.has(request.promptId) || (before !== undefined && (before !== "probe" || kind !== "probe"))) {
        problems.push(`${where} times prompt "${request.promptId}" again, which only probes may be`);
      }
      seen.add(request.promptId);
      timed.set(request.promptId, kind);
      return [{ ...prompt, kind }];
    });
  });
  for (const id of message.warmupPromptIds) {
    if (timed.has(id)) problems.push(`warm-up prompt "${id}" is also timed`);
  }
  if (problems.length > 0) {
    throw new CacheonError(
      "invalid-argument",
      `the job's prompts are malformed (${problems.length} problem${problems.length > 1 ? "s" : ""}): ${problems.slice(0, 10).join("; ")}`,
    );
  }
  return { warmup, repetitions };
}

/**
 * The schedule of a job: its own prompts when it carries them (checked by {@link scheduleFromJob}),
 * undefined for a pool workload. Throws "invalid-argument" when the workload names generated
 * prompts and the job carries none: there is nothing to fall back on.
 */
export function jobSchedule(job: Pick<EvaluationJob, "prompts" | "workload">): TimedSchedule | undefined {
  if (job.prompts) return scheduleFromJob(job.prompts);
  const source = job.workload?.promptSource ?? "";
  if (source.startsWith("generated:")) {
    throw new CacheonError(
      "invalid-argument",
      `the workload's prompt_source is "${source}" but the job carries no prompts`,
    );
  }
  return undefined;
}

/** Options of {@link scheduleFromPool}. */
export interface PoolScheduleOptions {
  /** Prompts to choose from (a bundled corpus or a private JSONL file). */
  pool: readonly Prompt[];
  /** Timed requests per repetition. */
  requests: number;
  warmup: number;
  repetitions: number;
  /** Round seed, hex: fixes the choice and order. */
  roundSeed: string;
}

/**
 * The schedule of a pool workload, as before prompts were generated per job: the same seeded
 * selection in every repetition, all "scored". Only for local runs and `bench` on a known pool:
 * a server can cache these, so rounds use generated prompts.
 */
export function scheduleFromPool(options: PoolScheduleOptions): TimedSchedule {
  const selected = selectPrompts(options);
  const timed = selected.timed.map((p) => ({ ...p, kind: "scored" as const }));
  return {
    warmup: selected.warmup,
    repetitions: Array.from({ length: Math.max(1, options.repetitions) }, () => timed),
  };
}
