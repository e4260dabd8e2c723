import type { TeacherForcedScore } from "../../shared/correctness/compare-outputs.ts";
import { type GeneratedOutput, tokenIdOf } from "../../shared/correctness/generated-output.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import type { Prompt } from "../workload/prompt.ts";

/** Options of {@link teacherForce}. */
export interface TeacherForceOptions {
  /** Base URL of the reference server (vLLM-compatible: /tokenize and /v1/completions). */
  reference: string;
  /** Model name the reference serves. */
  model: string;
  /** Candidate outputs to score. Failed ones and ones without tokens are skipped. */
  outputs: readonly GeneratedOutput[];
  /** The prompts the outputs answer, looked up by id: WorkloadRun.prompts of the candidate's run. */
  prompts: readonly Prompt[];
  /** Requests in flight at once. @default 4 */
  concurrency?: number;
  /** Per-request timeout, ms. @default 120000 */
  timeoutMs?: number;
  /** Aborts the scoring. */
  signal?: AbortSignal;
  /** Logger. @default silentLogger */
  logger?: Logger;
}

/**
 * Teacher forcing: the reference model scores each candidate output. For every output the
 * reference tokenizes the prompt with its chat template (`/tokenize` with messages and
 * add_generation_prompt), appends the candidate's token ids, and returns per-token prompt
 * logprobs (`/v1/completions` with `prompt_logprobs`); the mean over the candidate's tokens is
 * the output's log-likelihood under the reference model. Outputs the reference cannot score get
 * no entry (and are judged without it); the reason is logged.
 */
export async function teacherForce(options: TeacherForceOptions): Promise<TeacherForcedScore[]> {
  const logger = options.logger ?? silentLogger;
  const base = options.reference.replace(/\/+$/, "").replace(/\/v1$/, "");
  const timeoutMs = options.timeoutMs ?? 120_000;
  const promptIds = new Map<string, Promise<number[]>>();
  const promptsById = new Map(options.prompts.map((p) => [p.id, p]));
  const post = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
    const signals = [AbortSignal.timeout(timeoutMs), ...(options.signal ? [options.signal] : [])];
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.any(signals),
      });
    } catch (error) {
      if (options.signal?.aborted) throw new CacheonError("cancelled", "teacher forcing was cancelled");
      throw new CacheonError(
        "unavailable",
        `reference ${base}${path} did not answer: ${(error as Error).message}`,
      );
    }
    const text = await response.text();
    if (!response.ok) {
      throw new CacheonError(
        "unavailable",
        `reference ${base}${path} answered HTTP ${response.status}: ${text.slice(0, 300)}`,
      );
    }
    try {
      return JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new CacheonError("unavailable", `reference ${base}${path} answered with invalid JSON`);
    }
  };
  const idsOfPrompt = (id: string): Promise<number[]> => {
    let ids = promptIds.get(id);
    if (!ids) {
      const prompt = promptsById.get(id);
      if (!prompt) return Promise.reject(new CacheonError("invalid-argument", `no prompt "${id}" was given`));
      ids = post("/tokenize", {
        model: options.model,
        messages: prompt.messages,
        add_generation_prompt: true,
      }).then((r) => tokenList(r.tokens, "/tokenize tokens"));
      promptIds.set(id, ids);
    }
    return ids;
  };
  const score = async (output: GeneratedOutput): Promise<TeacherForcedScore | undefined> => {
    const prompt = await idsOfPrompt(output.promptId);
    let ids = output.tokens.map((t) => tokenIdOf(t.token));
    if (ids.some((id) => id === undefined)) {
      // The candidate ignored return_tokens_as_token_ids: tokenize its text with the reference's tokenizer.
      const r = await post("/tokenize", {
        model: options.model,
        prompt: output.text,
        add_special_tokens: false,
      });
      ids = tokenList(r.tokens, "/tokenize tokens");
    }
    if (ids.length === 0) return undefined;
    const r = await post("/v1/completions", {
      model: options.model,
      prompt: [...prompt, ...(ids as number[])],
      max_tokens: 1,
      temperature: 0,
      prompt_logprobs: 1,
    });
    const choice = (r.choices as Array<{ prompt_logprobs?: unknown }> | undefined)?.[0];
    const logprobs = choice?.prompt_logprobs;
    if (!Array.isArray(logprobs) || logprobs.length < prompt.length + ids.length) {
      throw new CacheonError(
        "unavailable",
        "reference /v1/completions returned no prompt_logprobs for every token",
      );
    }
    let sum = 0;
    for (let i = 0; i < ids.length; i++) {
      const entry = logprobs[prompt.length + i] as Record<string, { logprob?: unknown }> | null;
      const lp = entry?.[String(ids[i])]?.logprob;
      if (typeof lp !== "number") {
        throw new CacheonError(
          "unavailable",
          `reference prompt_logprobs lacks token ${ids[i]} at position ${prompt.length + i}`,
        );
      }
      sum += Math.max(lp, -100); // vLLM writes -inf as -9999; cap so one token cannot dominate the mean
    }
    return {
      repetition: output.repetition,
      requestIndex: output.requestIndex,
      meanLogprob: sum / ids.length,
    };
  };

  const todo = options.outputs.filter((o) => o.ok && (o.tokens.length > 0 || o.text !== ""));
  const scores: TeacherForcedScore[] = [];
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const output = todo[next++] as GeneratedOutput;
      try {
        const s = await score(output);
        if (s) scores.push(s);
      } catch (error) {
        const err = CacheonError.from(error);
        if (err.code === "cancelled") throw err;
        logger.warn("teacher forcing failed for one output", {
          repetition: output.repetition,
          request: output.requestIndex,
          error: err.message,
        });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));
  return scores.sort((a, b) => a.repetition - b.repetition || a.requestIndex - b.requestIndex);
}

function tokenList(value: unknown, what: string): number[] {
  if (!Array.isArray(value) || !value.every((v) => Number.isInteger(v) && v >= 0)) {
    throw new CacheonError("unavailable", `reference ${what} is not a list of token ids`);
  }
  return value as number[];
}
