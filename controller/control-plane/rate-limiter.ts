/** A token bucket: `ratePerSecond` tokens refill continuously up to `burst`. Pure apart from the clock passed in. */
export class TokenBucket {
  readonly ratePerSecond: number;
  readonly burst: number;
  #tokens: number;
  #updatedAtMs: number;

  constructor(options: { ratePerSecond: number; burst: number; nowMs: number }) {
    this.ratePerSecond = options.ratePerSecond;
    this.burst = options.burst;
    this.#tokens = options.burst;
    this.#updatedAtMs = options.nowMs;
  }

  /**
   * Takes `amount` tokens. Returns 0 when they were available, otherwise the milliseconds to wait
   * until they will be (the tokens are taken anyway, so the debt is paid by waiting).
   */
  take(amount: number, nowMs: number): number {
    const elapsed = Math.max(0, nowMs - this.#updatedAtMs);
    this.#updatedAtMs = nowMs;
    this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.ratePerSecond) / 1000);
    this.#tokens -= amount;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens * 1000) / this.ratePerSecond);
  }
}
