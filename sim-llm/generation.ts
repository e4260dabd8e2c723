import { HashRng, logprobOf, type ModelState, rankOf, type SimModel } from "./sim-model.ts";
import { isSpecial, tokenText } from "./tokenizer.ts";
import { END_OF_TEXT_ID, IM_END_ID } from "./vocabulary.ts";

/** Sampling parameters of one request, already validated. */
export interface SamplingParams {
  /** Most tokens to generate. */
  maxTokens: number;
  /** 0 = greedy. */
  temperature: number;
  /** Seed of sampling when temperature > 0; random when absent. */
  seed?: number | undefined;
  /** Stop strings: generation ends before the first of them; it is not part of the output. */
  stop: string[];
  /** Keep going past the end-of-sequence token (it is masked, as vLLM's `ignore_eos`). */
  ignoreEos: boolean;
  /** The end-of-sequence token is masked until this many tokens exist. */
  minTokens: number;
  /** How many alternatives to report per token (0 = only the chosen one). */
  topLogprobs: number;
}

/** A ranked alternative of a generated token. */
export interface TokenAlternative {
  id: number;
  logprob: number;
}

/** One generated token with what the server reports about it. */
export interface GeneratedToken {
  id: number;
  /** Raw log-probability of the token under the model (before temperature, as vLLM reports). */
  logprob: number;
  /** 1-based rank of the token under the model. */
  rank: number;
  /** The `topLogprobs` most likely tokens at this position. */
  top: TokenAlternative[];
  /** Text this token releases to the client (may be held back while it could start a stop string). */
  text: string;
}

/** Why a generation ended, in OpenAI terms. */
export type FinishReason = "stop" | "length";

/** Misbehaviours that change what is generated (the rest change how it is sent). */
export interface GenerationQuirks {
  /** Ends with "stop" after this many tokens even when the model would go on. */
  stopAfter?: number;
  /** Generates this many tokens past `maxTokens` before "length". */
  overshoot?: number;
  /** Reports log-probabilities distorted by a seeded amount (tokens stay honest). */
  perturbLogprobs?: boolean;
  /** At this many tokens, takes the model's second most likely token instead of the first. */
  runnerUpAt?: number;
}

/**
 * Generates tokens one at a time from a model state. Greedy generation is a pure function of the
 * prompt ids and parameters, so two runs give identical tokens and logprobs.
 */
export class Generation {
  readonly #model: SimModel;
  readonly #params: SamplingParams;
  readonly #quirks: GenerationQuirks;
  readonly #rng: HashRng;
  #state: ModelState;
  readonly ids: number[] = [];
  /** Output text while stop strings must be watched; without them, the pieces in `#pieces`. */
  #text = "";
  readonly #pieces: string[] = [];
  #sent = 0;
  #stopAt: number | undefined;
  #finish: FinishReason | undefined;

  constructor(
    model: SimModel,
    promptState: ModelState,
    params: SamplingParams,
    quirks: GenerationQuirks = {},
  ) {
    this.#model = model;
    this.#params = params;
    this.#quirks = quirks;
    this.#state = promptState;
    this.#rng = new HashRng(params.seed ?? Math.floor(Math.random() * 2 ** 32));
  }

  /** Set once generation has ended. */
  get finishReason(): FinishReason | undefined {
    return this.#finish;
  }

  /** The whole output text, cut before a stop string. */
  get text(): string {
    if (this.#params.stop.length === 0) return this.#pieces.join("");
    return this.#text.slice(0, this.#stopAt ?? this.#text.length);
  }

  /** The next token, or undefined (and `finishReason` set) when generation has ended. */
  next(): GeneratedToken | undefined {
    if (this.#finish) return undefined;
    const limit = this.#params.maxTokens + (this.#quirks.overshoot ?? 0);
    if (this.ids.length >= limit) return this.#end("length");
    if (this.#quirks.stopAfter !== undefined && this.ids.length >= this.#quirks.stopAfter)
      return this.#end("stop");

    const dist = this.#model.distribution(this.#state);
    const eosMasked = this.#params.ignoreEos || this.ids.length < this.#params.minTokens;
    const allowed = (id: number) => !(eosMasked && (id === IM_END_ID || id === END_OF_TEXT_ID));
    let id: number;
    if (this.#params.temperature <= 0) {
      const ranked = dist.ids.filter(allowed);
      const pick = this.ids.length === this.#quirks.runnerUpAt ? 1 : 0;
      id = ranked[pick] ?? ranked[0] ?? dist.ids[0] ?? IM_END_ID;
    } else {
      const weights = dist.ids.map((c, i) =>
        allowed(c) ? Math.exp((dist.logprobs[i] ?? -Infinity) / this.#params.temperature) : 0,
      );
      let r = this.#rng.next() * weights.reduce((a, b) => a + b, 0);
      id = dist.ids[dist.ids.length - 1] ?? IM_END_ID;
      for (let i = 0; i < weights.length; i++) {
        r -= weights[i] ?? 0;
        if (r < 0) {
          id = dist.ids[i] ?? id;
          break;
        }
      }
    }
    if (!eosMasked && (id === IM_END_ID || id === END_OF_TEXT_ID)) return this.#end("stop");

    this.#state = this.#model.advance(this.#state, id);
    this.ids.push(id);
    const piece = isSpecial(id) ? "" : tokenText(id);
    let text = piece;
    if (this.#params.stop.length === 0) {
      // No stop strings: each token's text goes out as it is (no growing string to re-scan).
      this.#pieces.push(piece);
    } else {
      this.#text += piece;
      for (const stop of this.#params.stop) {
        const at = this.#text.indexOf(stop);
        if (at >= 0) this.#stopAt = Math.min(at, this.#stopAt ?? at);
      }
    }
    if (this.#stopAt !== undefined) this.#finish = "stop";
    else if (this.ids.length >= limit) this.#finish = "length";
    else if (this.#quirks.stopAfter !== undefined && this.ids.length >= this.#quirks.stopAfter)
      this.#finish = "stop";
    if (this.#params.stop.length > 0) text = this.#release();
    const top = dist.ids
      .slice(0, this.#params.topLogprobs)
      .map((c, i) => ({ id: c, logprob: dist.logprobs[i] ?? 0 }));
    const token: GeneratedToken = { id, logprob: logprobOf(dist, id), rank: rankOf(dist, id), top, text };
    if (this.#quirks.perturbLogprobs) perturb(token, this.#state.hash);
    return token;
  }

  /** Text held back for a stop string that never came; call once generation has ended. */
  tail(): string {
    return this.#params.stop.length === 0 ? "" : this.#release();
  }

  #end(reason: FinishReason): undefined {
    this.#finish = reason;
    return undefined;
  }

  /** Text not yet given out that is safe to give: all of it unless a stop string may be starting. */
  #release(): string {
    let limit = this.#stopAt ?? this.#text.length;
    if (this.#stopAt === undefined && !this.#finish) {
      for (const stop of this.#params.stop) {
        for (let k = Math.min(stop.length - 1, this.#text.length); k > 0; k--) {
          if (this.#text.endsWith(stop.slice(0, k))) {
            limit = Math.min(limit, this.#text.length - k);
            break;
          }
        }
      }
    }
    limit = Math.max(limit, this.#sent);
    const out = this.#text.slice(this.#sent, limit);
    this.#sent = limit;
    return out;
  }
}

/** Distorts reported logprobs the way a server that fakes them would: plausible, but not the model's. */
function perturb(token: GeneratedToken, hash: number): void {
  const rng = new HashRng(hash ^ 0x3c6ef372);
  const shift = (lp: number) => Math.min(0, lp * 0.6 + 0.35 * rng.gaussian() - 0.05);
  token.logprob = shift(token.logprob);
  for (const alt of token.top) alt.logprob = shift(alt.logprob);
}
