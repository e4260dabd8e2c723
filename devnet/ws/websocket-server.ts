import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import { type WebSocket, WebSocketServer } from "ws";

// The protocol (RFC 6455 framing, masking, fragmentation, control frames, UTF-8 and size checks)
// is the `ws` package's; this file only keeps the devnet's small connection interface, so the
// RPC layer does not depend on ws's API. Compression is off: @polkadot/api does not ask for it,
// and a test chain has no use for inflate bombs.

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
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxMessageBytes ?? 16 * 1024 * 1024,
    perMessageDeflate: false,
    clientTracking: true,
  });
  server.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    // handleUpgrade answers a bad handshake (no key, wrong version) with 400 itself.
    wss.handleUpgrade(request, socket, head, (ws) => serveConnection(ws, options));
  });
  return () => {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
  };
}

const closeGraceMs = 1000;

function serveConnection(ws: WebSocket, options: WebSocketServerOptions): void {
  const connection: WebSocketConnection = {
    get open() {
      return ws.readyState === ws.OPEN;
    },
    send(text) {
      if (ws.readyState === ws.OPEN) ws.send(text);
    },
    close(code = 1000, reason = "") {
      if (ws.readyState !== ws.OPEN) return;
      ws.close(code, reason);
      // ws waits 30 s for the peer's closing frame; a peer we are closing on for misbehaving
      // gets a short grace instead.
      setTimeout(() => ws.terminate(), closeGraceMs).unref();
    },
  };
  // Protocol errors (unmasked frames, bad UTF-8, oversize) close the connection with the RFC's
  // code inside ws; the error event only reports them, and must be handled so it does not throw.
  ws.on("error", () => {});
  ws.on("close", () => options.onClose?.(connection));
  ws.on("message", (data, isBinary) => {
    if (isBinary) {
      connection.close(1003, "only text messages are accepted");
      return;
    }
    options.onMessage(connection, Array.isArray(data) ? Buffer.concat(data).toString() : data.toString());
  });
  options.onOpen?.(connection);
}
