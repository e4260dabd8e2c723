import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createBenchAgent, streamChatCompletion } from "./stream-chat-completion.ts";

/** A real HTTP server on port 0 that answers every request with a scripted response. */
let server: Server | undefined;
afterEach(async () => {
  await closeServer();
});

async function closeServer(): Promise<void> {
  const s = server;
  server = undefined;
  if (!s) return;
  s.closeAllConnections();
  await new Promise((resolve) => s.close(resolve));
}

async function scripted(respond: (res: ServerResponse) => void): Promise<URL> {
  server = createServer((req, res) => {
    req.resume();
    req.on("end", () => respond(res));
  });
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/chat/completions`);
}

const entry = (t: string) => ({ token: t, logprob: -0.1, top_logprobs: [{ token: t, logprob: -0.1 }] });
const chunk = (tokens: string[]) =>
  `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: tokens.join("") }, logprobs: { content: tokens.map(entry) } }] })}\n\n`;
const done = "data: [DONE]\n\n";

function send(url: URL, options: Partial<Parameters<typeof streamChatCompletion>[0]> = {}) {
  return streamChatCompletion({
    url,
    body: Buffer.from("{}"),
    agent: createBenchAgent(url),
    recorder: { maxTokens: 16 },
    stallTimeoutMs: 2000,
    requestTimeoutMs: 5000,
    ...options,
  });
}

describe("streamChatCompletion over real HTTP", () => {
  it("counts tokens from logprobs when a server sends several tokens per chunk, split at odd byte boundaries", async () => {
    const url = await scripted((res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      const bytes = Buffer.from(chunk(["a", "b", "c"]) + chunk(["d", "e"]) + done);
      let at = 0;
      const step = () => {
        if (at >= bytes.length) return res.end();
        res.write(bytes.subarray(at, at + 7));
        at += 7;
        setTimeout(step, 1);
      };
      step();
    });
    const r = await send(url);
    expect(r.failure).toBe("");
    expect(r.outputTokens).toBe(5);
    expect(r.contentChunks).toBe(2);
    expect(r.text).toBe("abcde");
    expect(r.status).toBe(200);
    expect(r.firstContentAt).toBeGreaterThan(r.sentAt);
    expect(r.endedAt).toBeGreaterThanOrEqual(r.lastContentAt);
  });

  it("fails a stream that closes without [DONE], an HTTP error, and an oversized line, keeping the detail", async () => {
    const cut = await send(
      await scripted((res) => {
        res.writeHead(200);
        res.end(chunk(["a"]));
      }),
    );
    expect(cut).toMatchObject({ failure: "no-done", outputTokens: 1 });
    await closeServer();

    const status = await send(
      await scripted((res) => {
        res.writeHead(503, { "content-type": "application/json" });
        res.end('{"error":"model loading"}');
      }),
    );
    expect(status).toMatchObject({ failure: "http-status", status: 503 });
    expect(status.failureDetail).toBe('HTTP 503: {"error":"model loading"}');
    await closeServer();

    const huge = await send(
      await scripted((res) => {
        res.writeHead(200);
        res.write(`data: {"x":"${"y".repeat(4096)}`);
      }),
      { maxEventBytes: 1024 },
    );
    expect(huge.failure).toBe("oversized-chunk");
    expect(huge.failureDetail).toContain("grew past 1024 bytes");
  });

  it("fails a silent stream with stall and a slow one with timeout, and returns promptly", async () => {
    const silent = await scripted((res) => {
      res.writeHead(200);
      res.write(chunk(["a"]));
    });
    const started = Date.now();
    const stalled = await send(silent, { stallTimeoutMs: 150 });
    expect(stalled).toMatchObject({ failure: "stall", failureDetail: "the server sent nothing for 150 ms" });
    expect(Date.now() - started).toBeLessThan(2000);

    const timedOut = await send(silent, { stallTimeoutMs: 0, requestTimeoutMs: 150 });
    expect(timedOut.failure).toBe("timeout");
  });

  it("records a cancelled request and a refused connection", async () => {
    const url = await scripted((res) => {
      res.writeHead(200);
      res.write(chunk(["a"]));
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    expect((await send(url, { signal: controller.signal })).failure).toBe("cancelled");
    const aborted = new AbortController();
    aborted.abort();
    expect((await send(url, { signal: aborted.signal })).failure).toBe("cancelled");
    await closeServer();
    const refused = await send(url);
    expect(refused.failure).toBe("connection");
    expect(refused.status).toBe(0);
  });

  it("ignores what a server sends after [DONE]", async () => {
    const url = await scripted((res) => {
      res.writeHead(200);
      res.write(chunk(["a"]) + done);
      setTimeout(() => res.end(chunk(["b", "c"])), 20);
    });
    const r = await send(url);
    expect(r).toMatchObject({ failure: "", outputTokens: 1, text: "a" });
  });
});
