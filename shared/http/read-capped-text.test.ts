import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readCappedText } from "./read-capped-text.ts";

let server: Server;
let base: string;
let endlessSent = 0;
let endlessClosed: Promise<void>;

beforeAll(async () => {
  let closed: () => void = () => {};
  endlessClosed = new Promise((resolve) => {
    closed = resolve;
  });
  server = createServer((req, res) => {
    if (req.url === "/small") return void res.end("héllo");
    // An endless body: a hostile server's "10 GB readiness reply".
    res.writeHead(200);
    const chunk = Buffer.alloc(16 * 1024, 97);
    const pump = () => {
      while (!res.destroyed && res.write(chunk)) endlessSent += chunk.length;
      if (!res.destroyed) res.once("drain", pump);
    };
    res.on("close", closed);
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("readCappedText", () => {
  it("reads a short body whole", async () => {
    expect(await readCappedText(await fetch(`${base}/small`), 1024)).toEqual({
      text: "héllo",
      truncated: false,
    });
  });

  it("stops an endless body at the cap and closes the stream, so the server stops sending", async () => {
    const read = await readCappedText(await fetch(`${base}/endless`), 64 * 1024);
    expect(read.truncated).toBe(true);
    expect(read.text.length).toBe(64 * 1024);
    await endlessClosed;
    // What the server managed to write is bounded by socket buffers, not by the body's length.
    expect(endlessSent).toBeLessThan(32 * 1024 * 1024);
  });
});
