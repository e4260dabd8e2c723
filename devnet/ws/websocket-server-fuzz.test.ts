import { createServer, type Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededRandom } from "../../test/support/seeded-random.ts";
import { attachWebSocketServer } from "./websocket-server.ts";

// Seeded streams of frames over raw TCP: valid messages cut into random fragments and delivered
// in random chunk sizes must come back whole and in order; random bytes after the handshake must
// end the connection (or leave it open) without ever delivering a message that was not sent, and
// the server must keep serving others.

let server: Server;
let port: number;
let closeAll: () => void;
const received: string[] = [];

beforeAll(async () => {
  server = createServer();
  closeAll = attachWebSocketServer(server, {
    onMessage: (connection, text) => {
      received.push(text);
      connection.send(`echo:${text}`);
    },
    maxMessageBytes: 4096,
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  closeAll();
  await new Promise<void>((r) => server.close(() => r()));
});

function frame(op: number, payload: Buffer, fin: boolean, mask: Buffer): Buffer {
  const body = Buffer.from(payload.map((b, i) => b ^ (mask[i & 3] ?? 0)));
  const len =
    payload.length < 126
      ? Buffer.from([payload.length | 0x80])
      : Buffer.from([126 | 0x80, payload.length >> 8, payload.length & 255]);
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | op]), len, mask, body]);
}

/**
 * Connects, upgrades, writes `bytes` in the given chunk sizes, and collects what comes back until
 * close, until `enough(data)`, or `waitMs`.
 */
async function exchange(
  bytes: Buffer,
  chunks: number[],
  waitMs: number,
  enough: (data: Buffer) => boolean = () => false,
): Promise<{ data: Buffer; closed: boolean }> {
  const socket = connect(port, "127.0.0.1");
  let data = Buffer.alloc(0);
  let closed = false;
  let satisfied: () => void = () => {};
  const satisfiedOrClosed = new Promise<void>((r) => {
    satisfied = r;
  });
  socket.on("data", (c) => {
    data = Buffer.concat([data, c]);
    if (enough(data)) satisfied();
  });
  socket.on("error", () => {});
  socket.on("close", () => {
    closed = true;
    satisfied();
  });
  socket.write(
    "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  let offset = 0;
  for (const size of chunks) {
    if (offset >= bytes.length) break;
    socket.write(bytes.subarray(offset, offset + size));
    offset += size;
    await new Promise((r) => setImmediate(r));
  }
  if (offset < bytes.length) socket.write(bytes.subarray(offset));
  await Promise.race([satisfiedOrClosed, new Promise((r) => setTimeout(r, waitMs))]);
  socket.destroy();
  return { data, closed };
}

/** Text payloads of the unmasked server frames after the 101 response. */
function serverTexts(data: Buffer): string[] {
  const start = data.indexOf("\r\n\r\n");
  let rest = data.subarray(start + 4);
  const texts: string[] = [];
  while (rest.length >= 2) {
    const op = (rest[0] ?? 0) & 0x0f;
    let len = (rest[1] ?? 0) & 0x7f;
    let offset = 2;
    if (len === 126) {
      len = rest.readUInt16BE(2);
      offset = 4;
    }
    if (rest.length < offset + len) break;
    if (op === 0x1) texts.push(rest.subarray(offset, offset + len).toString());
    rest = rest.subarray(offset + len);
  }
  return texts;
}

describe("attachWebSocketServer under seeded fuzz", () => {
  it("reassembles 60 streams of randomly fragmented messages delivered in random chunks", async () => {
    for (let seed = 1; seed <= 60; seed += 1) {
      const r = seededRandom(seed);
      const messages = Array.from(
        { length: 1 + Math.floor(r() * 4) },
        (_, i) => `m${seed}-${i}-${"é☃x".repeat(Math.floor(r() * 300))}`,
      );
      const frames: Buffer[] = [];
      for (const m of messages) {
        const bytes = Buffer.from(m);
        const cuts = [
          0,
          ...Array.from({ length: Math.floor(r() * 4) }, () => Math.floor(r() * bytes.length)),
          bytes.length,
        ].sort((a, b) => a - b);
        for (let i = 0; i + 1 < cuts.length; i += 1) {
          const mask = Buffer.from([r() * 256, r() * 256, r() * 256, r() * 256].map(Math.floor));
          frames.push(
            frame(i === 0 ? 0x1 : 0x0, bytes.subarray(cuts[i], cuts[i + 1]), i + 2 === cuts.length, mask),
          );
          // Pings may come between fragments; they are answered, not delivered.
          if (r() < 0.3) frames.push(frame(0x9, Buffer.from("p"), true, mask));
        }
      }
      const stream = Buffer.concat(frames);
      const chunks = Array.from({ length: 40 }, () => 1 + Math.floor(r() * 64));
      const { data } = await exchange(stream, chunks, 2000, (d) => serverTexts(d).length >= messages.length);
      expect(serverTexts(data), `seed ${seed}`).toEqual(messages.map((m) => `echo:${m}`));
    }
  });

  it("survives 150 streams of random bytes, delivering no message that was not sent", async () => {
    received.length = 0;
    let closedByServer = 0;
    for (let seed = 1; seed <= 150; seed += 1) {
      const r = seededRandom(1000 + seed);
      const bytes = Buffer.from(
        Array.from({ length: 1 + Math.floor(r() * 600) }, () => Math.floor(r() * 256)),
      );
      const { closed } = await exchange(bytes, [bytes.length], 40);
      if (closed) closedByServer += 1;
    }
    // Random bytes rarely form a masked, complete, valid UTF-8 text frame; any message that did
    // get through was echoed and is recorded, so it is at most that rare case.
    expect(received.length).toBeLessThan(10);
    expect(closedByServer).toBeGreaterThan(100);
    // Still serving.
    const { data } = await exchange(
      frame(0x1, Buffer.from("alive"), true, Buffer.from([9, 8, 7, 6])),
      [64],
      200,
    );
    expect(serverTexts(data)).toContain("echo:alive");
  });
});
