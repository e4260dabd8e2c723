import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { seededRandom } from "../../shared/stats/seeded-random.ts";
import type { Prompt } from "./prompt.ts";

/** Options of {@link selectPrompts}. */
export interface SelectPromptsOptions {
  /** Prompts to choose from. */
  pool: readonly Prompt[];
  /** Timed requests per repetition. */
  requests: number;
  /** Warm-up requests, drawn from prompts the timed ones do not use when the pool allows. */
  warmup: number;
  /** Round seed, hex: the same seed gives the same prompts in the same order everywhere. */
  roundSeed: string;
}

/** The prompts of one workload, in send order. */
export interface SelectedPrompts {
  /** One per timed request index. */
  timed: Prompt[];
  /** One per warm-up request. */
  warmup: Prompt[];
}

/**
 * Chooses and orders prompts from a round seed (sha256-seeded PRNG, domain "prompts"), so every
 * pod of a round sends the same requests and nobody can know them before the seed exists.
 * Timed prompts are distinct while the pool lasts; a larger workload reuses the pool in a fresh
 * order. Warm-up prompts come from the rest of the pool so the timed ones arrive uncached.
 */
export function selectPrompts(options: SelectPromptsOptions): SelectedPrompts {
  const { pool, requests, warmup } = options;
  if (pool.length === 0)
    throw new CacheonError(
      "invalid-argument",
      "the prompt pool is empty: give a corpus or a JSONL file with prompts",
    );
  if (!Number.isInteger(requests) || requests < 1) {
    throw new CacheonError("invalid-argument", `requests must be an integer >= 1, got ${requests}`);
  }
  if (!Number.isInteger(warmup) || warmup < 0) {
    throw new CacheonError("invalid-argument", `warm-up requests must be an integer >= 0, got ${warmup}`);
  }
  const random = seededRandom(options.roundSeed, "prompts");
  let order = random.shuffle(pool);
  const timed: Prompt[] = [];
  while (timed.length < requests) {
    if (timed.length > 0 && timed.length % pool.length === 0) order = random.shuffle(pool);
    timed.push(order[timed.length % pool.length] as Prompt);
  }
  const used = new Set(timed.map((p) => p.id));
  const rest = order.filter((p) => !used.has(p.id));
  const source = rest.length > 0 ? rest : order;
  const warm = Array.from({ length: warmup }, (_, i) => source[i % source.length] as Prompt);
  return { timed, warmup: warm };
}

/**
 * Arrival offsets (ms from the start of a repetition) of a Poisson process at `ratePerS`, seeded
 * by the round seed (domain "arrivals"): the same seed gives the same schedule on every pod.
 */
export function poissonArrivals(count: number, ratePerS: number, roundSeed: string): number[] {
  if (!(ratePerS > 0) || !Number.isFinite(ratePerS)) {
    throw new CacheonError(
      "invalid-argument",
      `Poisson arrival rate must be a positive number of requests/s, got ${ratePerS}`,
    );
  }
  const random = seededRandom(roundSeed, "arrivals");
  const out: number[] = [];
  let t = 0;
  for (let i = 0; i < count; i++) {
    out.push(t);
    t += random.exponential(ratePerS) * 1000;
  }
  return out;
}
