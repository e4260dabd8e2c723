import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { connect, type Socket } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { attachWebSocketServer } from "./websocket-server.ts";

// The server side against Node's own WebSocket client, and raw frames over a real TCP socket for
// what a well-behaved client never sends.

let server: Server;
let url: string;
let port: number;
let closeAll: () => void;

beforeEach(async () => {
  server = createServer();
  closeAll = attachWebSocketServer(server, {
    onMessage: (connection, text) => connection.send(`echo:${text}`),
    maxMessageBytes: 1024,
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
  url = `ws://127.0.0.1:${port}`;
});
afterEach(async () => {
  closeAll();
  await new Promise<void>((r) => server.close(() => r()));
});

function frame(op: number, payload: Buffer, fin = true, masked = true): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  const body = Buffer.from(payload.map((b, i) => b ^ (masked ? (mask[i & 3] ?? 0) : 0)));
  const len =
    payload.length < 126
      ? Buffer.from([payload.length | (masked ? 0x80 : 0)])
      : Buffer.from([126 | (masked ? 0x80 : 0), payload.length >> 8, payload.length & 255]);
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | op]), len, masked ? mask : Buffer.alloc(0), body]);
}

async function rawSocket(): Promise<{ socket: Socket; received: () => Buffer; closed: Promise<void> }> {
  const socket = connect(port, "127.0.0.1");
  let data = Buffer.alloc(0);
  socket.on("data", (chunk) => {
    data = Buffer.concat([data, chunk]);
  });
  const closed = new Promise<void>((r) => socket.on("close", () => r()));
  socket.write(
    `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  await new Promise((r) => setTimeout(r, 50));
  return { socket, received: () => data, closed };
}

describe("attachWebSocketServer", () => {
  it("talks to Node's WebSocket client, including long messages", async () => {
    const ws = new WebSocket(url);
    const messages: string[] = [];
    await new Promise((r) => ws.addEventListener("open", r));
    const got = new Promise<void>((resolve) =>
      ws.addEventListener("message", (e) => {
        messages.push(String(e.data));
        if (messages.length === 2) resolve();
      }),
    );
    ws.send("hi");
    ws.send("x".repeat(300));
    await got;
    expect(messages).toEqual(["echo:hi", `echo:${"x".repeat(300)}`]);
    ws.close();
  });

  it("answers the RFC 6455 handshake, reassembles fragments and answers pings", async () => {
    const { socket, received } = await rawSocket();
    expect(received().toString()).toContain("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    const headerLength = received().length;
    socket.write(
      Buffer.concat([
        frame(0x1, Buffer.from("he"), false),
        frame(0x9, Buffer.from("p")),
        frame(0x0, Buffer.from("llo")),
      ]),
    );
    await new Promise((r) => setTimeout(r, 50));
    const frames = received().subarray(headerLength);
    expect(frames.subarray(0, 3)).toEqual(Buffer.from([0x8a, 1, 0x70])); // pong "p" first
    expect(frames.subarray(3).toString()).toContain("echo:hello");
    socket.destroy();
  });

  const refusals: [string, Buffer, number][] = [
    ["an unmasked frame", frame(0x1, Buffer.from("a"), true, false), 1002],
    ["a binary message", frame(0x2, Buffer.from("a")), 1003],
    ["text that is not UTF-8", frame(0x1, Buffer.from([0xff, 0xfe])), 1007],
    ["a message over the size limit", frame(0x1, Buffer.alloc(2000, 0x61)), 1009],
    ["a continuation without a start", frame(0x0, Buffer.from("a")), 1002],
  ];
  for (const [name, bytes, code] of refusals) {
    it(`closes with ${code} on ${name}`, async () => {
      const { socket, received, closed } = await rawSocket();
      const headerLength = received().length;
      socket.write(bytes);
      await closed;
      const reply = received().subarray(headerLength);
      expect(reply[0]).toBe(0x88);
      expect(reply.readUInt16BE(2)).toBe(code);
    });
  }

  it("refuses a plain HTTP upgrade without a key", async () => {
    const socket = connect(port, "127.0.0.1");
    let text = "";
    socket.on("data", (c) => {
      text += c;
    });
    socket.write("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    await new Promise((r) => socket.on("close", r));
    expect(text).toMatch(/^HTTP\/1.1 400/);
  });
});
