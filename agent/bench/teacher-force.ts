import type { JudgeTokenizer } from "../../shared/correctness/check-integrity.ts";
import { type GeneratedOutput, tokenIdOf } from "../../shared/correctness/generated-output.ts";
import type { TeacherForcedOutput } from "../../shared/correctness/teacher-forced-output.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import type { Prompt } from "../workload/prompt.ts";

/** Options of {@link teacherForce}. */
export interface TeacherForceOptions {
  /** Base URL of the reference server (vLLM-compatible: /tokenize and /v1/completions). */
  reference: string;
  /** Model name the reference serves. */
  model: string;
  /**
   * Outputs to score. Those that cannot be what they claim (failed, without token ids, with ids
   * the tokenizer does not know or special tokens) are left out: they fail their integrity checks.
   */
  outputs: readonly GeneratedOutput[];
  /** The prompts of the outputs, found by prompt id (WorkloadRun.prompts). */
  prompts: readonly Prompt[];
  /** The reference's tokenizer: which ids can be scored. */
  tokenizer: JudgeTokenizer;
  /** Alternatives asked per position (prompt_logprobs); ranks beyond it are the server's. @default 5 */
  topK?: number;
  /**
   * Ids that end the model's turn; the first is scored after an output that stopped, and a higher
   * logprob of any other among the alternatives counts as the stop's. @default Qwen's <|im_end|>, <|endoftext|>
   */
  endOfTurnIds?: readonly number[];
  /** Requests in flight at once. @default 4 */
  concurrency?: number;
  /** Per-request timeout, ms. @default 120000 */
  timeoutMs?: number;
  /** Aborts the scoring. */
  signal?: AbortSignal;
  /** Logger. @default silentLogger */
  logger?: Logger;
}

/** Qwen2.5's end-of-turn ids: `<|im_end|>` (the chat template's) and `<|endoftext|>`. */
export const qwenEndOfTurnIds: readonly number[] = [151645, 151643];

/**
 * Teacher forcing: the reference model scores every token of each output. The reference tokenizes
 * the prompt with its chat template (`/tokenize` with messages and add_generation_prompt), the
 * output's token ids are appended (and, after an output that stopped, the end-of-turn token), and
 * `/v1/completions` with `prompt_logprobs` returns each position's logprob of the given token, its
 * rank, and the top alternatives. Nothing is skipped and nothing is judged here: any failure of the
 * reference (an error, an answer that does not cover every token) throws CacheonError
 * "unavailable", which the caller reads as no decision, never as a pass.
 */
export async function teacherForce(options: TeacherForceOptions): Promise<TeacherForcedOutput[]> {
  const logger = options.logger ?? silentLogger;
  const base = options.reference.replace(/\/+$/, "").replace(/\/v1$/, "");
  const timeoutMs = options.timeoutMs ?? 120_000;
  const topK = Math.max(1, options.topK ?? 5);
  const endOfTurn = options.endOfTurnIds ?? qwenEndOfTurnIds;
  const promptsById = new Map(options.prompts.map((p) => [p.id, p]));
  const promptIds = new Map<string, Promise<number[]>>();
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
  const idsOfPrompt = (promptId: string): Promise<number[]> => {
    let ids = promptIds.get(promptId);
    if (!ids) {
      const prompt = promptsById.get(promptId);
      if (!prompt) {
        return Promise.reject(
          new CacheonError("invalid-argument", `no prompt "${promptId}" among the workload's prompts`),
        );
      }
      ids = post("/tokenize", {
        model: options.model,
        messages: prompt.messages,
        add_generation_prompt: true,
      }).then((r) => tokenList(r.tokens, "/tokenize tokens"));
      promptIds.set(promptId, ids);
    }
    return ids;
  };
  const score = async (output: GeneratedOutput, ids: number[]): Promise<TeacherForcedOutput> => {
    const prompt = await idsOfPrompt(output.promptId);
    const stops = output.finishReason === "stop";
    const sequence = [...prompt, ...ids, ...(stops ? [endOfTurn[0] as number] : [])];
    const r = await post("/v1/completions", {
      model: options.model,
      prompt: sequence,
      max_tokens: 1,
      temperature: 0,
      prompt_logprobs: topK,
    });
    const choice = (r.choices as Array<{ prompt_logprobs?: unknown }> | undefined)?.[0];
    const positions = choice?.prompt_logprobs;
    if (!Array.isArray(positions) || positions.length < sequence.length) {
      throw new CacheonError(
        "unavailable",
        `reference /v1/completions returned prompt_logprobs for ${Array.isArray(positions) ? positions.length : 0} of ${sequence.length} positions`,
      );
    }
    const out: TeacherForcedOutput = {
      repetition: output.repetition,
      requestIndex: output.requestIndex,
      logprobs: [],
      bestLogprobs: [],
      ranks: [],
    };
    for (let i = 0; i < ids.length; i++) {
      const at = readPosition(positions[prompt.length + i], ids[i] as number, prompt.length + i);
      out.logprobs.push(at.logprob);
      out.bestLogprobs.push(at.best);
      out.ranks.push(at.rank);
    }
    if (stops) {
      const position = prompt.length + ids.length;
      const entry = positions[position];
      const at = readPosition(entry, endOfTurn[0] as number, position);
      // Any end-of-turn token ends the turn: take the likeliest of those listed.
      let { logprob, rank } = at;
      for (const id of endOfTurn.slice(1)) {
        const alt = (entry as Record<string, { logprob?: unknown; rank?: unknown }> | null)?.[String(id)];
        if (typeof alt?.logprob === "number" && capped(alt.logprob) > logprob) {
          logprob = capped(alt.logprob);
          rank = typeof alt.rank === "number" ? alt.rank : rank;
        }
      }
      out.stop = { logprob, bestLogprob: at.best, rank };
    }
    return out;
  };

  const todo = options.outputs.flatMap((o) => {
    const ids = scorableIds(o, options.tokenizer);
    return ids ? [{ output: o, ids }] : [];
  });
  const scores: TeacherForcedOutput[] = [];
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const { output, ids } = todo[next++] as (typeof todo)[number];
      options.signal?.throwIfAborted();
      scores.push(await score(output, ids));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));
  logger.info("teacher forcing done", { outputs: scores.length, of: options.outputs.length });
  return scores.sort((a, b) => a.repetition - b.repetition || a.requestIndex - b.requestIndex);
}

/** The ids of an output the reference can score: every entry a known, non-special token id. */
function scorableIds(o: GeneratedOutput, tokenizer: JudgeTokenizer): number[] | undefined {
  if (!o.ok || o.tokens.length === 0) return undefined;
  const ids: number[] = [];
  for (const t of o.tokens) {
    const id = tokenIdOf(t.token);
    if (id === undefined || !tokenizer.isTokenId(id) || tokenizer.isSpecial(id)) return undefined;
    ids.push(id);
  }
  return ids;
}

/** vLLM writes -inf as -9999: cap, so one token cannot make a mean meaningless. */
function capped(logprob: number): number {
  return Math.max(logprob, -100);
}

/** One position of prompt_logprobs: the given token's logprob and rank, and the best logprob there. */
function readPosition(
  entry: unknown,
  id: number,
  position: number,
): { logprob: number; best: number; rank: number } {
  const table = entry as Record<string, { logprob?: unknown; rank?: unknown }> | null;
  const own = table?.[String(id)];
  if (!table || typeof own?.logprob !== "number") {
    throw new CacheonError(
      "unavailable",
      `reference prompt_logprobs lacks token ${id} at position ${position}`,
    );
  }
  const logprob = capped(own.logprob);
  let best = logprob;
  let above = 0;
  for (const alt of Object.values(table)) {
    if (typeof alt?.logprob !== "number") continue;
    best = Math.max(best, capped(alt.logprob));
    if (capped(alt.logprob) > logprob) above += 1;
  }
  const rank = typeof own.rank === "number" && own.rank >= 1 ? own.rank : above + 1;
  return { logprob, best, rank };
}

function tokenList(value: unknown, what: string): number[] {
  if (!Array.isArray(value) || !value.every((v) => Number.isInteger(v) && v >= 0)) {
    throw new CacheonError("unavailable", `reference ${what} is not a list of token ids`);
  }
  return value as number[];
}
