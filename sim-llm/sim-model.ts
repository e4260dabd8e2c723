import { vocabularySize } from "./tokenizer.ts";
import { END_OF_TEXT_ID, generatableIds, IM_END_ID, IM_START_ID, punctuationId } from "./vocabulary.ts";

/**
 * Everything the model knows about a context, updated one token at a time. It is a function of the
 * token sequence only, so generating and teacher forcing reach the same state for the same tokens.
 */
export interface ModelState {
  /** Rolling hash of every token so far. */
  readonly hash: number;
  /** Tokens since the last special token (the start of the current turn or document). */
  readonly sinceAnchor: number;
  /** Hash at the last special token: fixes the natural length of the current answer. */
  readonly anchorHash: number;
  /** Words since the last punctuation mark: makes sentence ends likelier as sentences grow. */
  readonly wordsSinceBreak: number;
  /** The previous token, or -1 at the start. */
  readonly last: number;
}

/** A next-token distribution: the candidates, most likely first, and one log-probability for all others. */
export interface TokenDistribution {
  /** Candidate ids, highest logprob first (ties broken by id). */
  readonly ids: readonly number[];
  /** Log-probabilities of `ids`, same order. */
  readonly logprobs: readonly number[];
  /** Log-probability of every token that is not a candidate. */
  readonly tailLogprob: number;
}

/** Options of {@link SimModel}. */
export interface SimModelOptions {
  /** Changes every distribution: a different salt is a different model ("wrong model"). @default 0 */
  salt?: number;
  /**
   * Standard deviation, in nats, of seeded noise added to each candidate logit, as different GPU
   * kernels do. Near-ties flip with it. @default 0
   */
  numericNoise?: number;
  /** Seed of the noise; servers that should disagree use different seeds. @default 0 */
  noiseSeed?: number;
}

const CANDIDATES = 24;
const TAIL_LOGIT = -14;
const sentenceEnd = new Set([".", "!", "?", "\n"].map(punctuationId));
const comma = punctuationId(",");
const period = punctuationId(".");
const newline = punctuationId("\n");

/**
 * The deterministic stand-in for Qwen2.5-72B: next-token distributions derived from a hash of the
 * context. Distributions have realistic peaks (the top token usually carries most of the mass, a
 * few positions are near-ties), text reads like loose English, and answers end with the chat EOS
 * token at a length fixed by the prompt. Costs O(candidates) per token, no matter the vocabulary.
 */
export class SimModel {
  readonly #salt: number;
  readonly #noise: number;
  readonly #noiseSeed: number;

  constructor(options: SimModelOptions = {}) {
    this.#salt = options.salt ?? 0;
    this.#noise = options.numericNoise ?? 0;
    this.#noiseSeed = options.noiseSeed ?? 0;
  }

  /** The state before any token. */
  initial(): ModelState {
    return { hash: 0x811c9dc5, sinceAnchor: 0, anchorHash: 0x811c9dc5, wordsSinceBreak: 0, last: -1 };
  }

  /** The state after appending `id`. */
  advance(state: ModelState, id: number): ModelState {
    const hash = mix(state.hash ^ Math.imul(id + 1, 0x9e3779b1));
    const special = id === END_OF_TEXT_ID || id === IM_START_ID || id === IM_END_ID;
    const breaks = sentenceEnd.has(id) || id === comma;
    return {
      hash,
      sinceAnchor: special ? 0 : state.sinceAnchor + 1,
      anchorHash: special ? hash : state.anchorHash,
      wordsSinceBreak: breaks || special ? 0 : state.wordsSinceBreak + 1,
      last: id,
    };
  }

  /** The state after a whole sequence. */
  run(ids: readonly number[], from: ModelState = this.initial()): ModelState {
    let state = from;
    for (const id of ids) state = this.advance(state, id);
    return state;
  }

  /** The next-token distribution in `state`. */
  distribution(state: ModelState): TokenDistribution {
    const rng = new HashRng(mix(state.hash ^ this.#salt ^ 0x5bd1e995));
    const capitalContext = state.last < 0 || sentenceEnd.has(state.last) || state.sinceAnchor === 0;
    const period_ = 60 + (mix(state.anchorHash ^ this.#salt) % 380);
    const answerLength = 24 + (mix(state.anchorHash ^ this.#salt ^ 0x27d4eb2f) % 400);
    const position = state.sinceAnchor % (answerLength + period_);
    const due = state.sinceAnchor > 0 && position >= answerLength;

    const ids: number[] = [];
    const logits: number[] = [];
    const taken = new Set<number>();
    let logit = 0;
    const push = (id: number) => {
      if (taken.has(id)) return false;
      taken.add(id);
      ids.push(id);
      logits.push(logit);
      logit -= ids.length === 1 ? rng.exponential(3.5) : 0.1 + rng.exponential(0.8);
      return true;
    };

    if (due && capitalContext && state.sinceAnchor > 0) {
      logit = 2;
      push(IM_END_ID);
      logit = 0;
    } else if (due && !capitalContext) {
      push(period);
    }
    const pool =
      state.last === newline || state.last < 0
        ? generatableIds.lineStart
        : capitalContext
          ? generatableIds.capital
          : generatableIds.lower;
    const punctuationChance = capitalContext ? 0 : Math.min(0.45, 0.025 * state.wordsSinceBreak);
    let guard = 0;
    while (ids.length < CANDIDATES && guard++ < CANDIDATES * 4) {
      if (rng.next() < punctuationChance) {
        const r = rng.next();
        push(
          r < 0.55
            ? period
            : r < 0.9
              ? comma
              : (generatableIds.punctuation[rng.int(generatableIds.punctuation.length)] ?? period),
        );
      } else {
        // Squaring favours the front of the list, where the commonest words are.
        const u = rng.next();
        push(pool[Math.floor(u * u * pool.length)] ?? period);
      }
    }

    if (this.#noise > 0) {
      for (let i = 0; i < ids.length; i++) {
        const n = new HashRng(mix(state.hash ^ this.#noiseSeed ^ Math.imul((ids[i] ?? 0) + 7, 0x85ebca6b)));
        logits[i] = (logits[i] ?? 0) + this.#noise * n.gaussian();
      }
    }
    const order = ids
      .map((_, i) => i)
      .sort((a, b) => (logits[b] ?? 0) - (logits[a] ?? 0) || (ids[a] ?? 0) - (ids[b] ?? 0));
    let z = (vocabularySize - ids.length) * Math.exp(TAIL_LOGIT);
    for (const l of logits) z += Math.exp(l);
    const logZ = Math.log(z);
    return {
      ids: order.map((i) => ids[i] ?? 0),
      logprobs: order.map((i) => (logits[i] ?? 0) - logZ),
      tailLogprob: TAIL_LOGIT - logZ,
    };
  }
}

/** The log-probability of `id` under `dist`. */
export function logprobOf(dist: TokenDistribution, id: number): number {
  const at = dist.ids.indexOf(id);
  return at >= 0 ? (dist.logprobs[at] ?? dist.tailLogprob) : dist.tailLogprob;
}

/** The 1-based rank of `id` under `dist` (all tail tokens share the rank after the candidates). */
export function rankOf(dist: TokenDistribution, id: number): number {
  const at = dist.ids.indexOf(id);
  return at >= 0 ? at + 1 : dist.ids.length + 1;
}

/** murmur3's 32-bit finaliser: a fast, well-mixed hash step. */
export function mix(h: number): number {
  let x = h >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** A small deterministic random stream (splitmix-style over {@link mix}). */
export class HashRng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x9e3779b9) >>> 0;
    return mix(this.#state) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Exponential with the given mean. */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.next());
  }

  /** Standard normal (Box-Muller). */
  gaussian(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}
