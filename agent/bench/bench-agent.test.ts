import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import tls from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import { makeSelfSignedCert } from "../../test/support/self-signed-cert.ts";
import { BenchAgent, type BenchAgentOptions, type ResponseHandler } from "./bench-agent.ts";

/** What a handler heard, in order. */
interface Heard {
  status: number | undefined;
  body: string;
  /** Arrival times of the body parts, one per onBody call. */
  ats: number[];
  ended: boolean;
  error: { message: string; stage: string } | undefined;
  /** Calls after the end or the error (must stay 0). */
  late: number;
}

/** A handler that records what it hears and settles at the end or the error. */
function listen(): { handler: ResponseHandler; heard: Heard; settled: Promise<Heard> } {
  const heard: Heard = { status: undefined, body: "", ats: [], ended: false, error: undefined, late: 0 };
  let resolve: (h: Heard) => void = () => {};
  const settled = new Promise<Heard>((r) => {
    resolve = r;
  });
  const over = () => heard.ended || heard.error !== undefined;
  const handler: ResponseHandler = {
    onHead: (status) => {
      if (over()) heard.late += 1;
      heard.status = status;
    },
    onBody: (buffer, start, end, at) => {
      if (over()) heard.late += 1;
      heard.body += buffer.toString("latin1", start, end);
      heard.ats.push(at);
    },
    onEnd: () => {
      if (over()) heard.late += 1;
      heard.ended = true;
      resolve(heard);
    },
    onError: (error, stage) => {
      if (over()) heard.late += 1;
      heard.error = { message: error.message, stage };
      resolve(heard);
    },
  };
  return { handler, heard, settled };
}

/** A raw TCP (or TLS) server: answers each complete request with `respond`, on keep-alive connections. */
interface RawServer {
  url: URL;
  /** Connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function rawServer(
  respond: (socket: net.Socket, request: number) => void | Promise<void>,
  secure?: { cert: Buffer; key: Buffer },
): Promise<RawServer> {
  const sockets = new Set<net.Socket>();
  let requests = 0;
  const onConnection = (socket: net.Socket) => {
    state.connections += 1;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let held = Buffer.alloc(0);
    socket.on("data", (bytes: Buffer) => {
      held = Buffer.concat([held, bytes]);
      for (;;) {
        const end = held.indexOf("\r\n\r\n");
        if (end === -1) return;
        const length = Number(/content-length: (\d+)/i.exec(held.toString("latin1", 0, end))?.[1] ?? 0);
        if (held.length < end + 4 + length) return;
        held = held.subarray(end + 4 + length);
        void respond(socket, requests++);
      }
    });
  };
  const server = secure ? tls.createServer(secure, onConnection) : net.createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  const state: RawServer = {
    url: new URL(
      `${secure ? "https" : "http"}://${secure ? "localhost" : "127.0.0.1"}:${port}/v1/chat/completions`,
    ),
    connections: 0,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  cleanups.push(() => state.close());
  return state;
}

function agent(url: URL, options?: BenchAgentOptions): BenchAgent {
  const a = new BenchAgent(url, options);
  cleanups.push(() => a.destroy());
  return a;
}

function post(a: BenchAgent, url: URL) {
  const { handler, heard, settled } = listen();
  const request = a.post(url.pathname, { "Content-Type": "application/json" }, Buffer.from("{}"), handler);
  return { request, heard, settled };
}

const chunkedHead =
  "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
/** A chunked body with an extension, upper-case hex, a chunk holding CRLFs, and a trailer. */
const chunkedBody =
  "5\r\nhello\r\n" + "0B;name=value\r\n world\r\n\r\n!\r\n" + "1\r\n.\r\n" + "0\r\nX-Trailer: yes\r\n\r\n";
const chunkedText = "hello world\r\n\r\n!.";

describe("BenchAgent", () => {
  it("delivers a chunked body exactly, wherever the reads split it (head, sizes, CRLFs, data, trailers)", async () => {
    const response = Buffer.from(chunkedHead + chunkedBody);
    const s = await rawServer(async (socket, request) => {
      // Request k is answered in two writes split at byte k + 1, 5 ms apart: two socket reads.
      const at = (request % (response.length - 1)) + 1;
      socket.write(response.subarray(0, at));
      await sleep(5);
      socket.write(response.subarray(at));
    });
    const a = agent(s.url);
    const heard = await Promise.all(
      Array.from({ length: response.length - 1 }, () => post(a, s.url).settled),
    );
    for (const h of heard) {
      expect(h).toMatchObject({ status: 200, body: chunkedText, ended: true, error: undefined, late: 0 });
    }
  });

  it("delivers a chunked body sent one byte per read, stamping each read's bytes with its own arrival", async () => {
    const response = Buffer.from(chunkedHead + chunkedBody);
    const s = await rawServer(async (socket) => {
      for (let i = 0; i < response.length; i++) {
        socket.write(response.subarray(i, i + 1));
        await sleep(1);
      }
    });
    const h = await post(agent(s.url), s.url).settled;
    expect(h).toMatchObject({ status: 200, body: chunkedText, ended: true, error: undefined });
    // Data bytes arrive one per read: each body call is one byte with a later or equal stamp.
    expect(h.ats).toHaveLength(chunkedText.length);
    for (let i = 1; i < h.ats.length; i++) expect(h.ats[i]).toBeGreaterThanOrEqual(h.ats[i - 1] as number);
  });

  it("reuses a keep-alive connection, and opens one per request in flight", async () => {
    const s = await rawServer((socket) => {
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    const a = agent(s.url);
    expect((await post(a, s.url).settled).body).toBe("ok");
    expect((await post(a, s.url).settled).body).toBe("ok");
    expect(s.connections).toBe(1);
    expect(a.openConnections).toBe(1);
    const parallel = await Promise.all([
      post(a, s.url).settled,
      post(a, s.url).settled,
      post(a, s.url).settled,
    ]);
    expect(parallel.map((h) => h.body)).toEqual(["ok", "ok", "ok"]);
    expect(s.connections).toBe(3);
  });

  it("reads Content-Length, close-delimited and 204 bodies, and skips an interim 100", async () => {
    const responses = [
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcde",
      "HTTP/1.1 204 No Content\r\n\r\n",
      "HTTP/1.0 200 OK\r\n\r\nuntil close",
    ];
    const s = await rawServer((socket, request) => {
      socket.write(responses[request] as string);
      if (request === 2) socket.end();
    });
    const a = agent(s.url);
    expect(await post(a, s.url).settled).toMatchObject({ status: 200, body: "abcde", ended: true });
    expect(await post(a, s.url).settled).toMatchObject({ status: 204, body: "", ended: true });
    expect(await post(a, s.url).settled).toMatchObject({ status: 200, body: "until close", ended: true });
    // The close-delimited response cannot leave its connection reusable.
    expect(a.openConnections).toBe(0);
  });

  it("never reuses a connection on which the server sent bytes no request asked for", async () => {
    // A response sent ahead of its request must not be read as the next request's answer.
    const s = await rawServer((socket, request) => {
      if (request === 0) {
        socket.write(
          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly",
        );
      } else socket.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh");
    });
    const a = agent(s.url);
    expect(await post(a, s.url).settled).toMatchObject({ body: "ok", ended: true });
    expect(await post(a, s.url).settled).toMatchObject({ body: "fresh", ended: true });
    expect(s.connections).toBe(2);

    // Bytes on an idle connection close it too.
    const idle = await rawServer(async (socket, request) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n${request}`);
      if (request === 0) {
        await sleep(10);
        socket.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly");
      }
    });
    const b = agent(idle.url);
    expect((await post(b, idle.url).settled).body).toBe("0");
    await sleep(50);
    expect(b.openConnections).toBe(0);
    expect((await post(b, idle.url).settled).body).toBe("1");
    expect(idle.connections).toBe(2);
  });

  it.each([
    ["a bad status line", "HTTP/2 200\r\n\r\n", "request", /bad status line/],
    ["a header line without a colon", "HTTP/1.1 200 OK\r\nnonsense\r\n\r\n", "request", /bad header line/],
    [
      "chunked and Content-Length together",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
      "request",
      /both chunked and content-length/,
    ],
    ["an unknown transfer coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "request", /gzip/],
    [
      "a bad Content-Length",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
      "request",
      /bad content-length/,
    ],
    ["a protocol switch", "HTTP/1.1 101 Switching Protocols\r\n\r\n", "request", /switched protocols/],
    ["a bad chunk size", `${chunkedHead}zz\r\n`, "response", /bad byte 122 in a chunk-size line/],
    ["a chunk size without digits", `${chunkedHead}\n`, "response", /without a size/],
    ["a chunk not followed by CRLF", `${chunkedHead}1\r\nab`, "response", /not followed by CRLF/],
    [
      "a chunk size past 12 hex digits",
      `${chunkedHead}${"f".repeat(13)}\r\n`,
      "response",
      /more than 12 hex digits/,
    ],
  ])("fails %s, naming it, at the right stage", async (_, response, stage, message) => {
    const s = await rawServer((socket) => {
      socket.write(response);
    });
    const a = agent(s.url);
    const h = await post(a, s.url).settled;
    expect(h.ended).toBe(false);
    expect(h.error?.stage).toBe(stage);
    expect(h.error?.message).toMatch(message);
    expect(h.error?.message).toContain("invalid HTTP response from 127.0.0.1");
    expect(a.openConnections).toBe(0);
  });

  it("fails a head past the limit, a stream cut short, a hang-up and a refused connection", async () => {
    const big = await rawServer((socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nX-Pad: ${"x".repeat(200)}\r\n\r\n`);
    });
    const h1 = await post(agent(big.url, { maxHeadBytes: 100 }), big.url).settled;
    expect(h1.error).toMatchObject({
      stage: "request",
      message: expect.stringMatching(/larger than 100 bytes/),
    });

    const cut = await rawServer((socket) => {
      socket.end(`${chunkedHead}5\r\nhel`);
    });
    const h2 = await post(agent(cut.url), cut.url).settled;
    expect(h2).toMatchObject({ status: 200, body: "hel", ended: false });
    expect(h2.error).toEqual({ stage: "response", message: "the server closed the stream early" });

    const hangUp = await rawServer((socket) => {
      socket.destroy();
    });
    const h3 = await post(agent(hangUp.url), hangUp.url).settled;
    expect(h3.error).toEqual({ stage: "request", message: "socket hang up" });

    const closed = await rawServer(() => {});
    const url = closed.url;
    await closed.close();
    const h4 = await post(agent(url), url).settled;
    expect(h4.error?.stage).toBe("request");
    expect(h4.error?.message).toMatch(/ECONNREFUSED/);
  });

  it("after abort the handler hears nothing more and the connection is closed", async () => {
    const s = await rawServer(async (socket) => {
      socket.write(`${chunkedHead}1\r\na\r\n`);
      await sleep(20);
      socket.write("1\r\nb\r\n0\r\n\r\n");
    });
    const a = agent(s.url);
    const { request, heard } = post(a, s.url);
    while (heard.body === "") await sleep(1);
    request.abort();
    expect(a.openConnections).toBe(0);
    await sleep(50);
    expect(heard).toMatchObject({ body: "a", ended: false, error: undefined, late: 0 });
    expect(() => {
      a.destroy();
      a.post("/", {}, Buffer.alloc(0), listen().handler);
    }).toThrow(/destroyed/);
  });

  it("speaks https, trusting the certificate it is given and refusing one it does not know", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bench-agent-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const paths = makeSelfSignedCert(dir);
    const cert = readFileSync(paths.cert);
    const s = await rawServer(
      (socket) => {
        socket.write(`${chunkedHead}${chunkedBody}`);
      },
      { cert, key: readFileSync(paths.key) },
    );
    expect(await post(agent(s.url, { ca: cert }), s.url).settled).toMatchObject({
      status: 200,
      body: chunkedText,
      ended: true,
    });
    const refused = await post(agent(s.url), s.url).settled;
    expect(refused.error?.stage).toBe("request");
    expect(refused.error?.message).toMatch(/self[- ]signed/i);
    expect(() => new BenchAgent(new URL("ftp://127.0.0.1/"))).toThrow(/http: and https:, not ftp:/);
  });
});
