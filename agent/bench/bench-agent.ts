import net from "node:net";
import { performance } from "node:perf_hooks";
import tls from "node:tls";

/** What one response delivers, in order: head, body reads, then end or error (exactly one of them). */
export interface ResponseHandler {
  /** The status line and headers arrived. */
  onHead(status: number): void;
  /**
   * Body bytes (transfer framing removed) `buffer[start..end)` from one socket read that arrived at
   * `at` (performance.now()). The buffer is the agent's read buffer, reused by the next read: copy
   * what you keep before returning. One read may give several calls (one per chunk it holds).
   */
  onBody(buffer: Buffer, start: number, end: number, at: number): void;
  /** The response is complete; `at` is when its last byte arrived. */
  onEnd(at: number): void;
  /**
   * The exchange failed: before the head arrived ("request": the connection failed, the server
   * hung up or sent a malformed head), or after it ("response": the stream broke, the server
   * closed it early, or its framing was malformed; the message says which).
   */
  onError(error: Error, stage: "request" | "response"): void;
}

/** A request in flight. */
export interface BenchRequest {
  /** performance.now() just before the request's bytes were handed to the socket. */
  sentAt: number;
  /** Drops the request: its connection is closed and its handler hears nothing more. */
  abort(): void;
}

/** Options of {@link BenchAgent}. */
export interface BenchAgentOptions {
  /** Largest response head accepted, bytes. @default 64 KiB */
  maxHeadBytes?: number;
  /** Size of the one read buffer the agent's sockets share, bytes. @default 64 KiB */
  readBufferBytes?: number;
  /** Certificates (PEM) to trust for https: instead of the system's, e.g. an endpoint's self-signed one. */
  ca?: string | Buffer;
}

const CR = 13;
const LF = 10;
const SEMICOLON = 59;
const HEAD_END = Buffer.from("\r\n\r\n");
/** Longest chunk-size line (with extensions) and longest trailer section accepted, bytes. */
const MAX_LINE = 1024;

// Parser states.
const HEAD = 0;
const CHUNK_SIZE = 1;
const CHUNK_DATA = 2;
const CHUNK_END = 3;
const TRAILERS = 4;
const LENGTH = 5;
const UNTIL_CLOSE = 6;

/** One keep-alive connection and the response it is reading. */
interface Connection {
  socket: net.Socket;
  handler: ResponseHandler | undefined;
  state: number;
  headSeen: boolean;
  head: Buffer | undefined;
  /** Chunk size read so far (CHUNK_SIZE), or bytes of body or chunk data still to come. */
  remaining: number;
  /** Hex digits of the chunk-size line so far. */
  digits: number;
  /** Past the ";" of a chunk extension. */
  inExtension: boolean;
  /** Bytes of the current framing line so far. */
  lineBytes: number;
  /** Bytes of the trailer section so far. */
  trailerBytes: number;
  /** A CR (or, in a chunk-size line, whitespace) was seen. */
  sawCr: boolean;
  keepAlive: boolean;
}

/**
 * A keep-alive pool of HTTP/1.1 connections to one origin for streaming POSTs, built for a load
 * generator: no cap on connections (a pool limit would queue requests inside the client and inflate
 * TTFT), no Nagle delay, and a read path that does almost nothing. Every socket reads into one
 * shared buffer (`onread`: no allocation and no stream machinery per read); each read is stamped
 * with performance.now() as the first thing its callback does, before any parsing, and its body
 * bytes, chunked framing removed byte by byte, are handed over in place.
 *
 * Strict where a server could gain from leniency: bytes a server sends that no request asked for
 * (on an idle connection, or after a response's end) close the connection, so a response can never
 * be sent ahead of its request; a malformed head, chunk size or length, or a head past the limit,
 * fails the exchange. Supports chunked, Content-Length and close-delimited bodies, interim 1xx
 * responses (skipped), trailers (ignored), http: and https:.
 */
export class BenchAgent {
  readonly #url: URL;
  readonly #maxHeadBytes: number;
  readonly #ca: string | Buffer | undefined;
  readonly #buffer: Buffer;
  readonly #idle: Connection[] = [];
  readonly #open = new Set<Connection>();
  #destroyed = false;

  constructor(url: URL, options: BenchAgentOptions = {}) {
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new Error(`BenchAgent speaks http: and https:, not ${url.protocol}`);
    }
    this.#url = url;
    this.#maxHeadBytes = options.maxHeadBytes ?? 64 * 1024;
    this.#ca = options.ca;
    this.#buffer = Buffer.allocUnsafe(options.readBufferBytes ?? 64 * 1024);
  }

  /** Connections open now (busy and idle). */
  get openConnections(): number {
    return this.#open.size;
  }

  /**
   * POSTs `body` to `path` (with its query) on this agent's origin, on an idle connection or a new
   * one, and reports the response to `handler`. The head carries `headers` (name: value) after
   * Host, Content-Length and Connection.
   */
  post(
    path: string,
    headers: Readonly<Record<string, string>>,
    body: Buffer,
    handler: ResponseHandler,
  ): BenchRequest {
    if (this.#destroyed) throw new Error("the BenchAgent was destroyed");
    const connection = this.#idle.pop() ?? this.#connect();
    connection.handler = handler;
    connection.state = HEAD;
    connection.headSeen = false;
    connection.head = undefined;
    connection.keepAlive = true;
    connection.socket.ref();
    let head = `POST ${path} HTTP/1.1\r\nHost: ${this.#url.host}\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n`;
    for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
    const bytes = Buffer.concat([Buffer.from(`${head}\r\n`, "latin1"), body]);
    const sentAt = performance.now();
    connection.socket.write(bytes);
    return {
      sentAt,
      abort: () => {
        if (connection.handler !== handler) return;
        connection.handler = undefined;
        this.#close(connection);
      },
    };
  }

  /** Closes every connection; requests in flight hear nothing more. */
  destroy(): void {
    this.#destroyed = true;
    for (const connection of this.#open) {
      connection.handler = undefined;
      connection.socket.destroy();
    }
    this.#open.clear();
    this.#idle.length = 0;
  }

  #connect(): Connection {
    const connection: Connection = {
      socket: undefined as unknown as net.Socket,
      handler: undefined,
      state: HEAD,
      headSeen: false,
      head: undefined,
      remaining: 0,
      digits: 0,
      inExtension: false,
      lineBytes: 0,
      trailerBytes: 0,
      sawCr: false,
      keepAlive: true,
    };
    const onread = {
      buffer: this.#buffer,
      callback: (nread: number, buffer: Buffer): boolean => {
        // The read's time, before anything else runs: it dates every byte of this read.
        const at = performance.now();
        this.#read(connection, buffer, nread, at);
        return true;
      },
    };
    const port = Number(this.#url.port) || (this.#url.protocol === "https:" ? 443 : 80);
    const host = this.#url.hostname.replace(/^\[|\]$/g, "");
    // tls.connect takes onread too (Node's documentation lists it; its type definitions do not).
    const secure = {
      host,
      port,
      servername: net.isIP(host) ? undefined : host,
      onread,
      ALPNProtocols: ["http/1.1"],
      ...(this.#ca === undefined ? {} : { ca: this.#ca }),
    };
    connection.socket =
      this.#url.protocol === "https:" ? tls.connect(secure) : net.connect({ host, port, onread });
    connection.socket.setNoDelay(true);
    connection.socket.on("error", (error) =>
      this.#failed(connection, connection.headSeen ? new Error(`the stream broke: ${error.message}`) : error),
    );
    connection.socket.on("end", () => this.#eof(connection));
    connection.socket.on("close", () => this.#eof(connection));
    this.#open.add(connection);
    return connection;
  }

  /** One socket read: `nread` bytes in `buffer`, arrived at `at`. */
  #read(c: Connection, buffer: Buffer, nread: number, at: number): void {
    if (c.handler === undefined) {
      // Nobody asked for these bytes (an idle connection, or one being dropped): never trust it again.
      this.#close(c);
      return;
    }
    let i = 0;
    try {
      while (i < nread) {
        const state = c.state;
        if (state === CHUNK_DATA || state === LENGTH) {
          const take = Math.min(c.remaining, nread - i);
          c.handler?.onBody(buffer, i, i + take, at);
          c.remaining -= take;
          i += take;
          if (c.remaining === 0) {
            if (state === LENGTH) {
              this.#complete(c, i, nread, at);
              return;
            }
            c.state = CHUNK_END;
            c.sawCr = false;
          }
        } else if (state === CHUNK_SIZE) {
          i = chunkSizeLine(c, buffer, i, nread);
        } else if (state === CHUNK_END) {
          // The CRLF after a chunk's data, possibly split across reads.
          const b = buffer[i++];
          if (!c.sawCr && b === CR) c.sawCr = true;
          else if (c.sawCr && b === LF) startChunkSize(c);
          else throw new Error("a chunk's data is not followed by CRLF");
        } else if (state === TRAILERS) {
          // Trailer lines are ignored; an empty line ends the message.
          const b = buffer[i++] as number;
          if (b === LF) {
            if (c.lineBytes === 0) {
              this.#complete(c, i, nread, at);
              return;
            }
            c.lineBytes = 0;
          } else if (b !== CR || c.lineBytes > 0) {
            c.lineBytes += 1;
            c.trailerBytes += 1;
            if (c.trailerBytes > MAX_LINE) throw new Error("the trailers are too long");
          }
        } else if (state === UNTIL_CLOSE) {
          c.handler?.onBody(buffer, i, nread, at);
          i = nread;
        } else {
          i = this.#head(c, buffer, i, nread);
          if (c.head !== undefined) break; // the head continues in the next read
          if (c.state === LENGTH && c.remaining === 0) {
            this.#complete(c, i, nread, at);
            return;
          }
        }
        if (c.handler === undefined) return; // the handler dropped the request
      }
    } catch (error) {
      this.#failed(c, new Error(`invalid HTTP response from ${this.#url.host}: ${(error as Error).message}`));
    }
  }

  /** Parses the head from `buffer[i..nread)` (joined to what earlier reads held); returns the index after it. */
  #head(c: Connection, buffer: Buffer, i: number, nread: number): number {
    const held = c.head?.length ?? 0;
    const bytes = c.head ? Buffer.concat([c.head, buffer.subarray(i, nread)]) : buffer.subarray(i, nread);
    const end = bytes.indexOf(HEAD_END, Math.max(0, held - 3));
    if (end === -1) {
      if (bytes.length > this.#maxHeadBytes)
        throw new Error(`the response head is larger than ${this.#maxHeadBytes} bytes`);
      c.head = Buffer.from(bytes); // a copy: the read buffer is reused
      return nread;
    }
    if (end > this.#maxHeadBytes)
      throw new Error(`the response head is larger than ${this.#maxHeadBytes} bytes`);
    c.head = undefined;
    const consumed = i + end + 4 - held;
    const lines = bytes.toString("latin1", 0, end).split("\r\n");
    const status = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(lines[0] as string);
    if (!status) throw new Error(`bad status line ${JSON.stringify((lines[0] as string).slice(0, 80))}`);
    const code = Number(status[2]);
    if (code >= 100 && code < 200) {
      if (code === 101) throw new Error("the server switched protocols");
      return consumed; // an interim response: the real one follows
    }
    let chunked = false;
    let length = -1;
    c.keepAlive = status[1] === "1";
    for (let k = 1; k < lines.length; k++) {
      const line = lines[k] as string;
      const colon = line.indexOf(":");
      if (colon <= 0) throw new Error(`bad header line ${JSON.stringify(line.slice(0, 80))}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line
        .slice(colon + 1)
        .trim()
        .toLowerCase();
      if (name === "transfer-encoding") {
        chunked = value.split(",").at(-1)?.trim() === "chunked";
        if (!chunked) throw new Error(`unsupported transfer-encoding "${value}"`);
      } else if (name === "content-length") {
        if (!/^\d{1,15}$/.test(value) || (length !== -1 && length !== Number(value))) {
          throw new Error(`bad content-length "${value}"`);
        }
        length = Number(value);
      } else if (name === "connection") {
        const tokens = value.split(",").map((t) => t.trim());
        if (tokens.includes("close")) c.keepAlive = false;
        else if (tokens.includes("keep-alive")) c.keepAlive = true;
      }
    }
    if (chunked && length !== -1) throw new Error("both chunked and content-length");
    c.headSeen = true;
    if (code === 204 || code === 304) {
      c.state = LENGTH;
      c.remaining = 0;
    } else if (chunked) {
      startChunkSize(c);
    } else if (length !== -1) {
      c.state = LENGTH;
      c.remaining = length;
    } else {
      c.state = UNTIL_CLOSE;
      c.keepAlive = false;
    }
    c.handler?.onHead(code);
    return consumed;
  }

  /** The response ended at byte `i` of this read. */
  #complete(c: Connection, i: number, nread: number, at: number): void {
    const handler = c.handler;
    c.handler = undefined;
    // Bytes after the end were sent before any request asked for them: the connection is not reused.
    if (c.keepAlive && i === nread && !this.#destroyed) {
      c.socket.unref();
      this.#idle.push(c);
    } else this.#close(c);
    handler?.onEnd(at);
  }

  #failed(c: Connection, error: Error): void {
    const handler = c.handler;
    c.handler = undefined;
    this.#close(c);
    handler?.onError(error, c.headSeen ? "response" : "request");
  }

  /** End of stream or close: a close-delimited body ends; anything else was cut short. */
  #eof(c: Connection): void {
    const handler = c.handler;
    if (handler === undefined) {
      this.#close(c);
      return;
    }
    if (c.state === UNTIL_CLOSE) {
      c.handler = undefined;
      this.#close(c);
      handler.onEnd(performance.now());
      return;
    }
    this.#failed(c, new Error(c.headSeen ? "the server closed the stream early" : "socket hang up"));
  }

  #close(c: Connection): void {
    this.#open.delete(c);
    const at = this.#idle.indexOf(c);
    if (at !== -1) this.#idle.splice(at, 1);
    c.socket.destroy();
  }
}

function startChunkSize(c: Connection): void {
  c.state = CHUNK_SIZE;
  c.remaining = 0;
  c.digits = 0;
  c.inExtension = false;
  c.lineBytes = 0;
  c.sawCr = false;
}

/**
 * Reads a chunk-size line (hex digits, optional whitespace and extensions after ";", CRLF) byte by
 * byte from `buffer[i..nread)`, possibly across reads; returns the index after what it consumed.
 * At the line's end the connection moves to the chunk's data, or to the trailers for size 0.
 */
function chunkSizeLine(c: Connection, buffer: Buffer, i: number, nread: number): number {
  while (i < nread) {
    const b = buffer[i++] as number;
    c.lineBytes += 1;
    if (c.lineBytes > MAX_LINE) throw new Error("a chunk-size line is too long");
    if (b === LF) {
      if (c.digits === 0) throw new Error("a chunk-size line without a size");
      if (c.remaining === 0) {
        c.state = TRAILERS;
        c.lineBytes = 0;
        c.trailerBytes = 0;
      } else c.state = CHUNK_DATA;
      return i;
    }
    if (c.inExtension) continue;
    const digit = hexDigit(b);
    if (digit >= 0 && !c.sawCr && c.lineBytes === c.digits + 1) {
      c.digits += 1;
      if (c.digits > 12) throw new Error("a chunk size of more than 12 hex digits");
      c.remaining = c.remaining * 16 + digit;
    } else if (b === SEMICOLON && c.digits > 0) c.inExtension = true;
    else if ((b === 32 || b === 9 || b === CR) && c.digits > 0)
      c.sawCr = true; // whitespace or CR after the digits
    else throw new Error(`bad byte ${b} in a chunk-size line`);
  }
  return i;
}

function hexDigit(b: number): number {
  if (b >= 48 && b <= 57) return b - 48;
  if (b >= 97 && b <= 102) return b - 87;
  if (b >= 65 && b <= 70) return b - 55;
  return -1;
}
