/** Why an SSE stream was rejected. */
export class SseLimitError extends Error {
  readonly eventBytes: number;
  constructor(eventBytes: number, limit: number) {
    super(`an SSE event grew past ${limit} bytes (${eventBytes} buffered) without ending`);
    this.name = "SseLimitError";
    this.eventBytes = eventBytes;
  }
}

/** Receives each event's data (its `data:` lines joined by "\n") and the arrival time of its last byte. */
export type SseEventHandler = (data: string, arrivedAt: number) => void;

/**
 * An incremental Server-Sent-Events parser over raw bytes. Each event is stamped with the arrival
 * time of the chunk that completed it, taken by the caller when the bytes came off the socket, so
 * parsing cost never leaks into the timing. Memory is bounded: an event (or line) that grows past
 * `maxEventBytes` throws {@link SseLimitError} instead of buffering without end.
 */
export class SseParser {
  readonly #maxEventBytes: number;
  readonly #onEvent: SseEventHandler;
  #partial: Buffer[] = [];
  #partialBytes = 0;
  #data: string[] = [];
  #eventBytes = 0;

  /**
   * @param onEvent called once per complete event.
   * @param maxEventBytes largest event accepted, bytes. @default 1 MiB
   */
  constructor(onEvent: SseEventHandler, maxEventBytes = 1024 * 1024) {
    this.#onEvent = onEvent;
    this.#maxEventBytes = maxEventBytes;
  }

  /** Feeds bytes that arrived at `arrivedAt`; calls the handler for each event they complete. Keeps no reference to `chunk`. */
  push(chunk: Buffer, arrivedAt: number): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl === -1) break;
      let line: Buffer = chunk.subarray(start, nl);
      if (this.#partialBytes > 0) {
        this.#partial.push(line);
        line = Buffer.concat(this.#partial, this.#partialBytes + line.length);
        this.#partial = [];
        this.#partialBytes = 0;
      }
      this.#line(line, arrivedAt);
      start = nl + 1;
    }
    if (start < chunk.length) {
      // A copy: the caller may reuse the chunk's memory once push returns.
      const rest = Buffer.from(chunk.subarray(start));
      this.#partial.push(rest);
      this.#partialBytes += rest.length;
      if (this.#partialBytes + this.#eventBytes > this.#maxEventBytes) {
        throw new SseLimitError(this.#partialBytes + this.#eventBytes, this.#maxEventBytes);
      }
    }
  }

  /** Ends the stream: an unterminated last line or event is dispatched as if it had ended. */
  end(arrivedAt: number): void {
    if (this.#partialBytes > 0) {
      const line = Buffer.concat(this.#partial, this.#partialBytes);
      this.#partial = [];
      this.#partialBytes = 0;
      this.#line(line, arrivedAt);
    }
    this.#dispatch(arrivedAt);
  }

  #line(raw: Buffer, arrivedAt: number): void {
    const line = raw.length > 0 && raw[raw.length - 1] === 13 ? raw.subarray(0, raw.length - 1) : raw;
    if (line.length === 0) {
      this.#dispatch(arrivedAt);
      return;
    }
    if (line[0] === 58 /* ":" comment */) return;
    this.#eventBytes += line.length;
    if (this.#eventBytes > this.#maxEventBytes)
      throw new SseLimitError(this.#eventBytes, this.#maxEventBytes);
    const text = line.toString("utf8");
    const colon = text.indexOf(":");
    const field = colon === -1 ? text : text.slice(0, colon);
    if (field !== "data") return;
    let value = colon === -1 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    this.#data.push(value);
  }

  #dispatch(arrivedAt: number): void {
    if (this.#data.length === 0) {
      this.#eventBytes = 0;
      return;
    }
    const data = this.#data.length === 1 ? (this.#data[0] as string) : this.#data.join("\n");
    this.#data = [];
    this.#eventBytes = 0;
    this.#onEvent(data, arrivedAt);
  }
}
