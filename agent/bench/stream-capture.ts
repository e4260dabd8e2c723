import { SseLimitError, SseParser } from "./sse-parser.ts";
import {
  type RecordedStream,
  type StreamFailure,
  StreamRecorder,
  type StreamRecorderOptions,
} from "./stream-recorder.ts";

/**
 * Unparsed body bytes held by all the streams of one run, with a ceiling: past it, streams parse
 * their bytes as they arrive (as if deferral were off), so memory stays bounded however many
 * streams a run holds open or keeps unparsed until its timed window closes.
 */
export class DeferralPool {
  /** Bytes held unparsed now. */
  held = 0;
  /** Bytes the run may hold unparsed. */
  readonly limit: number;
  constructor(limit: number) {
    this.limit = limit;
  }
}

/** Limits of {@link StreamCapture}. */
export interface StreamCaptureOptions {
  /** Recorder limits (max_tokens, caps). */
  recorder: StreamRecorderOptions;
  /** Largest SSE event accepted, bytes. @default 1 MiB */
  maxEventBytes?: number;
  /**
   * Body bytes this stream may hold unparsed; past it the stream parses as bytes arrive. 0 parses
   * every read as it arrives (no deferral). @default max(1 MiB, (maxTokens + 16) x 8 KiB)
   */
  deferBytes?: number;
  /** The run's shared ceiling on unparsed bytes. */
  pool?: DeferralPool;
}

/** What the I/O layer should do after a read: keep reading, parse now, or stop (the stream ended with [DONE]). */
export type CaptureStep = "more" | "parse" | "done";

/** A stream's recording plus the arrival time of the read that ended it, if its content ended it. */
export interface CapturedRecording extends RecordedStream {
  /**
   * Arrival time of the read during whose parsing the stream failed or saw [DONE]; NaN when
   * neither happened (the stream ended otherwise).
   */
  stoppedAt: number;
}

const LF = 10;
const CR = 13;
const SPACE = 32;
const DONE_BYTES = Buffer.from("[DONE]");
const DONE_REVERSED = [...DONE_BYTES].reverse();
const DATA_COLON_REVERSED = [...Buffer.from("data:")].reverse();
const EMPTY = Buffer.alloc(0);
/** First size of a stream's store, bytes; it doubles as needed. */
const INITIAL_STORE = 16 * 1024;

/**
 * One stream's body as it arrived: every read's bytes, copied into one growing buffer, with the
 * time each read came off the socket, kept unparsed so that the client's work per read is a copy
 * and a few byte checks (no object survives a read: the heap the garbage collector walks stays
 * small however many streams a window holds). Parsing
 * (SSE framing, JSON, the recorder) happens when {@link record} is called, after the timed window,
 * or at once when a limit is crossed or the bytes cannot be judged without it (see {@link push}).
 * The recording is the same as parsing every read as it arrived: the same parser and recorder see
 * the same bytes with the same arrival times, in the same order.
 */
export class StreamCapture {
  readonly #recorder: StreamRecorder;
  readonly #parser: SseParser;
  readonly #maxEventBytes: number;
  readonly #deferBytes: number;
  readonly #pool: DeferralPool | undefined;
  /** Unparsed bytes: #store[0..#held), read k ending at #ends[k] and arriving at #ats[k]. */
  #store: Buffer = EMPTY;
  #ends: number[] = [];
  #ats: number[] = [];
  #held = 0;
  /** Of #held, the bytes counted in the run's pool. */
  #pooled = 0;
  #total = 0;
  #lineBytes = 0;
  #eager: boolean;
  #stoppedAt = Number.NaN;
  #endedAt = Number.NaN;
  #ioFailure: { code: StreamFailure; detail: string } | undefined;

  constructor(options: StreamCaptureOptions) {
    this.#recorder = new StreamRecorder(options.recorder);
    this.#maxEventBytes = options.maxEventBytes ?? 1024 * 1024;
    this.#parser = new SseParser((data, at) => this.#event(data, at), this.#maxEventBytes);
    this.#deferBytes =
      options.deferBytes ?? Math.max(1024 * 1024, (options.recorder.maxTokens + 16) * 8 * 1024);
    this.#eager = this.#deferBytes <= 0;
    this.#pool = options.pool;
  }

  /** True once parsing found the stream failed (bytes not yet parsed may hold more). */
  get failed(): boolean {
    return this.#recorder.failed;
  }

  /** True once parsing saw [DONE]. */
  get done(): boolean {
    return this.#recorder.done;
  }

  /**
   * Takes the bytes `buffer[start..end)` of one read that arrived at `at` (copied: the caller may
   * reuse the buffer). Returns "done" when the stream so far ends with a [DONE] event (judged from
   * the bytes alone: SSE events end at a blank line, and JSON holds no raw line break, so the last
   * event's bytes decide), "parse" when the bytes must be parsed now (this stream or the run holds
   * too much unparsed, an unterminated line grew past the event limit, or "[DONE]" appears where
   * only the parser can tell what it is), else "more".
   */
  push(buffer: Buffer, start: number, end: number, at: number): CaptureStep {
    const size = end - start;
    const from = this.#held;
    const held = from + size;
    if (held > this.#store.length) {
      const grown = Buffer.allocUnsafe(Math.max(INITIAL_STORE, 2 * this.#store.length, held));
      this.#store.copy(grown, 0, 0, from);
      this.#store = grown;
    }
    buffer.copy(this.#store, from, start, end);
    this.#held = held;
    this.#ends.push(held);
    this.#ats.push(at);
    this.#total += size;
    if (this.#eager) return "parse";
    if (this.#pool) {
      this.#pool.held += size;
      this.#pooled += size;
    }
    if (this.#held > this.#deferBytes || (this.#pool !== undefined && this.#pool.held > this.#pool.limit)) {
      this.#eager = true;
      return "parse";
    }
    // This read plus the few bytes before it ("[DONE]" may straddle two reads).
    const lookback = Math.min(from, DONE_BYTES.length - 1);
    const recent = this.#store.subarray(from - lookback, held);
    const lf = recent.lastIndexOf(LF);
    this.#lineBytes = lf < lookback ? this.#lineBytes + size : recent.length - lf - 1;
    if (this.#lineBytes > this.#maxEventBytes) return "parse";
    if (lf === recent.length - 1 && endsWithDoneEvent(this.#store, held, this.#total)) return "done";
    if (recent.indexOf(DONE_BYTES) !== -1) return "parse";
    return "more";
  }

  /**
   * Parses every byte held so far. A parse error becomes the stream's failure (oversized-chunk for
   * an event past the limit, invalid-json otherwise); check {@link failed} and {@link done} after.
   */
  parse(): void {
    const store = this.#store;
    const ends = this.#ends;
    const ats = this.#ats;
    this.#ends = [];
    this.#ats = [];
    if (this.#pool) this.#pool.held -= this.#pooled;
    this.#pooled = 0;
    this.#held = 0;
    let start = 0;
    for (let i = 0; i < ends.length; i++) {
      if (this.#recorder.failed || this.#recorder.done) return;
      const at = ats[i] as number;
      const end = ends[i] as number;
      const bytes = store.subarray(start, end);
      start = end;
      try {
        this.#parser.push(bytes, at);
      } catch (error) {
        this.#fail(
          error instanceof SseLimitError ? "oversized-chunk" : "invalid-json",
          (error as Error).message,
          at,
        );
        return;
      }
    }
  }

  /** The response ended at `at` (no more bytes will come): an unterminated last event counts. */
  end(at: number): void {
    this.#endedAt = at;
  }

  /** The request failed outside its content (socket, HTTP status, timers, cancellation). First one wins. */
  fail(code: StreamFailure, detail: string): void {
    this.#ioFailure ??= { code, detail };
  }

  /**
   * Parses what is left and returns the recording. Call once, after the stream settled: bytes are
   * parsed in arrival order, then the end of the response, then a failure of the request itself,
   * as they would have been had each read been parsed as it arrived.
   */
  record(): CapturedRecording {
    this.parse();
    if (!Number.isNaN(this.#endedAt) && !this.#recorder.failed && !this.#recorder.done) {
      try {
        this.#parser.end(this.#endedAt);
      } catch (error) {
        this.#recorder.fail("oversized-chunk", (error as Error).message);
      }
    }
    if (this.#ioFailure) this.#recorder.fail(this.#ioFailure.code, this.#ioFailure.detail);
    return { ...this.#recorder.finish(), stoppedAt: this.#stoppedAt };
  }

  #event(data: string, at: number): void {
    this.#recorder.event(data, at);
    if ((this.#recorder.failed || this.#recorder.done) && Number.isNaN(this.#stoppedAt)) {
      this.#stoppedAt = at;
    }
  }

  #fail(code: StreamFailure, detail: string, at: number): void {
    this.#recorder.fail(code, detail);
    if (Number.isNaN(this.#stoppedAt)) this.#stoppedAt = at;
  }
}

/**
 * Whether `tail[0..end)` (the last `end` bytes of a stream that has `streamBytes` bytes so far)
 * ends with an SSE event whose data is exactly "[DONE]", as {@link SseParser} frames it: a line
 * `data: [DONE]` or `data:[DONE]` (optional CR) that starts an event (the stream's start, or a
 * blank line before it) and is followed by a blank line. Pure; false when the bytes do not show it
 * (the parser then decides).
 */
export function endsWithDoneEvent(tail: Uint8Array, end: number, streamBytes: number): boolean {
  let i = end - 1;
  // The blank line that ends the event, then the end of the [DONE] line.
  if (tail[i] !== LF) return false;
  i -= 1;
  if (tail[i] === CR) i -= 1;
  if (tail[i] !== LF) return false;
  i -= 1;
  if (tail[i] === CR) i -= 1;
  for (const b of DONE_REVERSED) if (tail[i--] !== b) return false;
  if (tail[i] === SPACE) i -= 1;
  for (const b of DATA_COLON_REVERSED) if (tail[i--] !== b) return false;
  // The line starts the event: nothing before it in the stream, or a blank line before it.
  if (i < 0) return end === streamBytes;
  // The blank line before it (optional CR), then the end of the line before that.
  if (tail[i] !== LF) return false;
  i -= 1;
  if (tail[i] === CR) i -= 1;
  if (i < 0) return end === streamBytes;
  return tail[i] === LF;
}
