/**
 * The controller's side of one session stream: messages waiting to be written, with the ack
 * coalesced into a single slot (a newer ack replaces an unsent older one, so a fast agent gets
 * one ack per write instead of one per commit). Iterating yields until `end()` or throws the
 * error given to `fail()`.
 */
export class OutgoingQueue<T> {
  readonly #items: T[] = [];
  #ack: T | undefined;
  #wake: (() => void) | undefined;
  #done = false;
  #error: unknown;

  /** Queues a message. Ignored after the queue ended. */
  push(item: T): void {
    if (this.#done) return;
    this.#items.push(item);
    this.#notify();
  }

  /** Sets the pending ack, replacing an unsent one. */
  setAck(item: T): void {
    if (this.#done) return;
    this.#ack = item;
    this.#notify();
  }

  /** Ends the stream normally once the queued messages are written. */
  end(): void {
    this.#done = true;
    this.#notify();
  }

  /** Ends the stream with an error: queued messages are dropped and iteration throws `error`. */
  fail(error: unknown): void {
    if (this.#done && this.#error !== undefined) return;
    this.#done = true;
    this.#error = error ?? new Error("session failed");
    this.#notify();
  }

  /** True once end() or fail() was called. */
  get done(): boolean {
    return this.#done;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      if (this.#error !== undefined) throw this.#error;
      // The ack is set once per commit, which covers everything the session sent until then.
      const item = this.#items.shift() ?? this.#takeAck();
      if (item !== undefined) {
        yield item;
        continue;
      }
      if (this.#done) return;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  #takeAck(): T | undefined {
    const ack = this.#ack;
    this.#ack = undefined;
    return ack;
  }
}
