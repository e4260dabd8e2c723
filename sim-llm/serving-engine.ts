/**
 * The serving-speed model: continuous batching as vLLM does it, in time taken from the clock.
 * Each engine step decodes one token for every running sequence and prefills up to `chunkTokens`
 * prompt tokens of waiting ones; its duration grows with the batch and the prefill it carries.
 */
export interface ServingTiming {
  /** Fixed cost of a step that carries prefill, in ms. */
  prefillBaseMs: number;
  /** Prefill cost per prompt token, in ms. */
  prefillMsPerPromptToken: number;
  /** Fixed cost of a decode step, in ms (with `decodeStepMsPerRunning: 0` the exact per-token delay at speed 1). */
  decodeStepBaseMs: number;
  /** Extra decode-step cost per running sequence, in ms. */
  decodeStepMsPerRunning: number;
  /** Most sequences running at once; the rest wait in a queue. */
  maxBatch: number;
  /** Most prompt tokens prefilled in one step (chunked prefill). */
  chunkTokens: number;
}

/**
 * Defaults shaped like vLLM serving Qwen2.5-72B with tensor parallelism on 8x H200: about 20 ms per
 * token alone, slower as the batch grows, about 0.3 s to prefill a 6k-token prompt.
 */
export const defaultServingTiming: ServingTiming = {
  prefillBaseMs: 15,
  prefillMsPerPromptToken: 0.05,
  decodeStepBaseMs: 20,
  decodeStepMsPerRunning: 0.12,
  maxBatch: 256,
  chunkTokens: 8192,
};

/** A sequence the engine schedules. */
export interface EngineSequence {
  /** Prompt tokens to prefill before the first token. */
  readonly promptTokens: number;
  /**
   * Called at the end of each step that produced a token for this sequence (the first call ends its
   * prefill). Returns true when the sequence is finished and leaves the batch.
   */
  onToken(): boolean;
}

/** Options of {@link ServingEngine}. */
export interface ServingEngineOptions {
  /** Step costs. @default defaultServingTiming */
  timing?: Partial<ServingTiming>;
  /** Speed factor: every duration is divided by it (1.05 = 5% faster). @default 1 */
  speed?: number;
  /**
   * Relative standard deviation of timing noise: one factor drawn per engine (run-to-run noise)
   * and a half-size one per step. @default 0
   */
  jitter?: number;
  /** Random source of the jitter. @default Math.random */
  random?: () => number;
}

interface Slot {
  seq: EngineSequence;
  prefillLeft: number;
}

/** Runs sequences in continuous batches with clock-based step times; no busy loops. */
export class ServingEngine {
  readonly timing: ServingTiming;
  readonly speed: number;
  readonly #jitter: number;
  readonly #random: () => number;
  readonly #runFactor: number;
  readonly #waiting: Slot[] = [];
  readonly #running = new Set<Slot>();
  #timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  #due = 0;
  #closed = false;

  constructor(options: ServingEngineOptions = {}) {
    this.timing = { ...defaultServingTiming, ...options.timing };
    this.speed = options.speed ?? 1;
    this.#jitter = options.jitter ?? 0;
    this.#random = options.random ?? Math.random;
    this.#runFactor = Math.max(0.5, 1 + this.#jitter * gaussian(this.#random));
  }

  /** Sequences waiting or running. */
  get load(): number {
    return this.#waiting.length + this.#running.size;
  }

  /** Queues a sequence; its first token comes after its prefill. */
  submit(seq: EngineSequence): void {
    if (this.#closed) return;
    this.#waiting.push({ seq, prefillLeft: Math.max(1, seq.promptTokens) });
    if (this.#timer === undefined) {
      this.#due = performance.now();
      this.#schedule();
    }
  }

  /** Drops a sequence (the client went away). */
  cancel(seq: EngineSequence): void {
    removeWhere(this.#waiting, (s) => s.seq === seq);
    for (const slot of this.#running) if (slot.seq === seq) this.#running.delete(slot);
  }

  /** Stops scheduling; sequences in flight get no more tokens. */
  close(): void {
    this.#closed = true;
    this.#waiting.length = 0;
    this.#running.clear();
    this.#clearTimer();
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer as NodeJS.Timeout);
    clearImmediate(this.#timer as NodeJS.Immediate);
    this.#timer = undefined;
  }

  /** Plans the next step from the current batch and arms a timer for its end. */
  #schedule(): void {
    this.#timer = undefined;
    if (this.#closed) return;
    while (this.#running.size < this.timing.maxBatch && this.#waiting.length > 0) {
      const slot = this.#waiting.shift();
      if (slot) this.#running.add(slot);
    }
    if (this.#running.size === 0) return;
    const decoding: Slot[] = [];
    const prefilled: Slot[] = [];
    let budget = this.timing.chunkTokens;
    let prefillTokens = 0;
    for (const slot of this.#running) {
      if (slot.prefillLeft === 0) {
        decoding.push(slot);
      } else if (budget > 0) {
        const take = Math.min(budget, slot.prefillLeft);
        budget -= take;
        prefillTokens += take;
        slot.prefillLeft -= take;
        if (slot.prefillLeft === 0) prefilled.push(slot);
      }
    }
    const t = this.timing;
    let ms = 0;
    if (decoding.length > 0) ms += t.decodeStepBaseMs + t.decodeStepMsPerRunning * decoding.length;
    if (prefillTokens > 0) ms += t.prefillBaseMs + t.prefillMsPerPromptToken * prefillTokens;
    const stepFactor = this.#jitter > 0 ? Math.max(0.1, 1 + 0.5 * this.#jitter * gaussian(this.#random)) : 1;
    ms = (ms * this.#runFactor * stepFactor) / this.speed;
    // Step ends are laid end to end on the clock, so timer lateness never accumulates.
    const now = performance.now();
    this.#due = Math.max(this.#due, now - 50) + ms;
    const finish = () => this.#finishStep(decoding, prefilled);
    const wait = this.#due - now;
    this.#timer = wait >= 1 ? setTimeout(finish, wait) : setImmediate(finish);
  }

  #finishStep(decoding: Slot[], prefilled: Slot[]): void {
    this.#timer = undefined;
    if (this.#closed) return;
    for (const slot of [...decoding, ...prefilled]) {
      if (!this.#running.has(slot)) continue;
      let done = true;
      try {
        done = slot.seq.onToken();
      } catch {
        done = true;
      }
      if (done) this.#running.delete(slot);
    }
    this.#schedule();
  }
}

function removeWhere<T>(list: T[], predicate: (item: T) => boolean): void {
  const at = list.findIndex(predicate);
  if (at >= 0) list.splice(at, 1);
}

function gaussian(random: () => number): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}
