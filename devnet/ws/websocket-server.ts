import { createHash } from "node:crypto";
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";

// Node 24 ships a WebSocket client but no server. The devnet needs only what @polkadot/api uses
// (text frames, ping/pong, close), so this is the minimal RFC 6455 server side on node:http's
// upgrade event instead of a new dependency: handshake, masked client frames, fragmentation,
// control frames, and a frame size cap. Extensions (permessage-deflate) are not negotiated.

const handshakeGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const opcode = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

/** One accepted WebSocket connection. */
export interface WebSocketConnection {
  /** Sends one text message (unfragmented). Ignored after close. */
  send(text: string): void;
  /** Sends a close frame and ends the socket. */
  close(code?: number, reason?: string): void;
  /** Whether the connection is still open. */
  readonly open: boolean;
}

/** Options of {@link attachWebSocketServer}. */
export interface WebSocketServerOptions {
  /** Called for every complete text message. */
  onMessage(connection: WebSocketConnection, text: string): void;
  /** Called once when the connection ends, however it ends. */
  onClose?(connection: WebSocketConnection): void;
  /** Called when a connection is accepted. */
  onOpen?(connection: WebSocketConnection): void;
  /** Largest message accepted, after reassembling fragments; larger closes with 1009. @default 16 MiB */
  maxMessageBytes?: number;
}

/** Accepts WebSocket upgrades on `server`; returns a function that closes every open connection. */
export function attachWebSocketServer(server: Server, options: WebSocketServerOptions): () => void {
  const connections = new Set<Duplex>();
  server.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const key = request.headers["sec-websocket-key"];
    const upgrade = String(request.headers.upgrade ?? "").toLowerCase();
    if (upgrade !== "websocket" || typeof key !== "string" || key.length === 0) {
      socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
      return;
    }
    const accept = createHash("sha1").update(`${key}${handshakeGuid}`).digest("base64");
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    connections.add(socket);
    socket.on("close", () => connections.delete(socket));
    serveConnection(socket, head, options);
  });
  return () => {
    for (const socket of connections) socket.destroy();
    connections.clear();
  };
}

function serveConnection(socket: Duplex, head: Buffer, options: WebSocketServerOptions): void {
  const maxMessage = options.maxMessageBytes ?? 16 * 1024 * 1024;
  let buffer: Buffer = head.length > 0 ? Buffer.from(head) : Buffer.alloc(0);
  let fragments: Buffer[] = [];
  let fragmentBytes = 0;
  let fragmentOpcode = -1;
  let open = true;
  let closed = false;

  const writeFrame = (op: number, payload: Buffer) => {
    if (socket.destroyed) return;
    const length = payload.length;
    let header: Buffer;
    if (length < 126) {
      header = Buffer.from([0x80 | op, length]);
    } else if (length < 65536) {
      header = Buffer.alloc(4);
      header[0] = 0x80 | op;
      header[1] = 126;
      header.writeUInt16BE(length, 2);
    } else {
      header = Buffer.alloc(10);
      header[0] = 0x80 | op;
      header[1] = 127;
      header.writeBigUInt64BE(BigInt(length), 2);
    }
    socket.write(Buffer.concat([header, payload]));
  };

  const connection: WebSocketConnection = {
    get open() {
      return open;
    },
    send(text) {
      if (open) writeFrame(opcode.text, Buffer.from(text, "utf8"));
    },
    close(code = 1000, reason = "") {
      if (!open) return;
      open = false;
      const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
      payload.writeUInt16BE(code, 0);
      payload.write(reason, 2);
      writeFrame(opcode.close, payload);
      socket.end();
    },
  };

  const finish = () => {
    if (closed) return;
    closed = true;
    open = false;
    options.onClose?.(connection);
  };
  socket.on("close", finish);
  socket.on("error", () => socket.destroy());

  const handleFrame = (fin: boolean, op: number, payload: Buffer) => {
    if (op >= 0x8) {
      // Control frames: never fragmented, at most 125 bytes (RFC 6455 5.5).
      if (!fin || payload.length > 125) return connection.close(1002, "bad control frame");
      if (op === opcode.ping) return writeFrame(opcode.pong, payload);
      if (op === opcode.pong) return;
      if (op === opcode.close) {
        if (open) {
          open = false;
          writeFrame(opcode.close, payload.subarray(0, 2));
        }
        socket.end();
        return;
      }
      return connection.close(1002, "unknown control opcode");
    }
    if (op === opcode.continuation) {
      if (fragmentOpcode < 0) return connection.close(1002, "continuation without a first frame");
    } else {
      if (fragmentOpcode >= 0) return connection.close(1002, "new message inside a fragmented one");
      if (op !== opcode.text && op !== opcode.binary) return connection.close(1002, "unknown opcode");
      fragmentOpcode = op;
    }
    fragmentBytes += payload.length;
    if (fragmentBytes > maxMessage) return connection.close(1009, "message too big");
    fragments.push(payload);
    if (!fin) return;
    const message = Buffer.concat(fragments);
    const messageOpcode = fragmentOpcode;
    fragments = [];
    fragmentBytes = 0;
    fragmentOpcode = -1;
    if (messageOpcode !== opcode.text) return connection.close(1003, "only text messages are accepted");
    const text = new TextDecoder("utf-8", { fatal: true });
    let decoded: string;
    try {
      decoded = text.decode(message);
    } catch {
      return connection.close(1007, "text message is not UTF-8");
    }
    options.onMessage(connection, decoded);
  };

  const parse = () => {
    while (open && buffer.length >= 2) {
      const b0 = buffer[0] ?? 0;
      const b1 = buffer[1] ?? 0;
      const fin = (b0 & 0x80) !== 0;
      if ((b0 & 0x70) !== 0) return connection.close(1002, "reserved bits set without an extension");
      const op = b0 & 0x0f;
      const masked = (b1 & 0x80) !== 0;
      if (!masked) return connection.close(1002, "client frames must be masked");
      let length = b1 & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffer.length < 4) return;
        length = buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffer.length < 10) return;
        const big = buffer.readBigUInt64BE(2);
        if (big > BigInt(maxMessage)) return connection.close(1009, "message too big");
        length = Number(big);
        offset = 10;
      }
      if (length > maxMessage) return connection.close(1009, "message too big");
      if (buffer.length < offset + 4 + length) return;
      const mask = buffer.subarray(offset, offset + 4);
      const payload = Buffer.from(buffer.subarray(offset + 4, offset + 4 + length));
      for (let i = 0; i < payload.length; i += 1) payload[i] = (payload[i] ?? 0) ^ (mask[i & 3] ?? 0);
      buffer = buffer.subarray(offset + 4 + length);
      handleFrame(fin, op, payload);
    }
  };

  options.onOpen?.(connection);
  socket.on("data", (chunk: Buffer) => {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    parse();
  });
  if (buffer.length > 0) queueMicrotask(parse);
}
