import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { CacheonError } from "../shared/errors/cacheon-error.ts";
import { type Logger, silentLogger } from "../shared/log/logger.ts";
import type { DevnetBeaconOptions } from "./beacon/devnet-beacon.ts";
import { type DevnetBlock, DevnetChain } from "./chain/devnet-chain.ts";
import { type DevnetSeed, defaultSeed } from "./chain/devnet-seed.ts";
import { createRpcHandlers, RpcError, type RpcSession } from "./rpc/devnet-rpc.ts";
import { loadChainMetadata } from "./runtime/chain-metadata.ts";
import { attachWebSocketServer } from "./ws/websocket-server.ts";

/** Options of {@link startDevnet}. */
export interface DevnetOptions {
  /** Interface to listen on. @default "127.0.0.1" */
  host?: string;
  /** Port; 0 picks a free one. @default 9944 */
  port?: number;
  /** Seconds between blocks (fractions allowed); 0 produces blocks only through `produceBlock()`. @default 12 */
  blockTimeSeconds?: number;
  /** Subnets, neurons and hyperparameters. @default {@link defaultSeed} */
  seed?: DevnetSeed;
  /** Blocks the finalized head trails the best one. @default 1 */
  finalityLag?: number;
  /** The drand-style beacon's seed, genesis and period. @default seed "cacheon devnet beacon", genesis now, 3 s */
  beacon?: DevnetBeaconOptions;
  /** Clock of block hooks and the beacon (ms since the epoch), for tests. @default Date.now */
  now?: () => number;
  logger?: Logger;
}

/** A running devnet. */
export interface Devnet {
  /** ws://host:port */
  url: string;
  port: number;
  /** The chain itself, for tests that inspect state. */
  chain: DevnetChain;
  /** Produces a block now (besides the timer). */
  produceBlock(): DevnetBlock;
  /** Resolves once the finalized head reaches `number`. */
  waitForFinalized(number: number, signal?: AbortSignal): Promise<DevnetBlock>;
  /** Stops block production, closes every connection and the listener. */
  close(): Promise<void>;
}

/** Starts the local Subtensor chain: real metadata, JSON-RPC over WebSocket. */
export async function startDevnet(options: DevnetOptions = {}): Promise<Devnet> {
  const logger = options.logger ?? silentLogger;
  const blockTime = options.blockTimeSeconds ?? 12;
  if (!Number.isFinite(blockTime) || blockTime < 0)
    throw new CacheonError("invalid-config", `block time ${blockTime} must be a number of seconds >= 0`);
  const meta = loadChainMetadata();
  const chain = await DevnetChain.create({
    meta,
    seed: options.seed ?? defaultSeed(),
    finalityLag: options.finalityLag ?? 1,
    ...(options.beacon ? { beacon: options.beacon } : {}),
    ...(options.now ? { now: options.now } : {}),
    logger,
  });
  const handlers = createRpcHandlers(chain, logger);
  const sessions = new Map<unknown, RpcSession>();
  const server = createServer((_, response) => {
    response.writeHead(426, { "content-type": "text/plain" });
    response.end("cacheon-devnet speaks JSON-RPC over WebSocket: connect with ws://\n");
  });
  const closeSockets = attachWebSocketServer(server, {
    onOpen(connection) {
      sessions.set(connection, { connection, subscriptions: new Map() });
    },
    onClose(connection) {
      const session = sessions.get(connection);
      for (const stop of session?.subscriptions.values() ?? []) stop();
      sessions.delete(connection);
    },
    onMessage(connection, text) {
      const session = sessions.get(connection);
      if (!session) return;
      connection.send(handleMessage(text, session));
    },
  });

  const handleOne = (request: unknown, session: RpcSession): unknown => {
    const req = request as { id?: unknown; method?: unknown; params?: unknown };
    const id = req?.id ?? null;
    if (typeof req !== "object" || req === null || typeof req.method !== "string")
      return { jsonrpc: "2.0", id, error: { code: -32600, message: "Invalid request" } };
    const handler = handlers.get(req.method);
    if (!handler)
      return { jsonrpc: "2.0", id, error: { code: -32601, message: `Method not found: ${req.method}` } };
    try {
      const params = Array.isArray(req.params) ? req.params : req.params === undefined ? [] : [req.params];
      return { jsonrpc: "2.0", id, result: handler(params, session) };
    } catch (error) {
      if (error instanceof RpcError)
        return { jsonrpc: "2.0", id, error: { code: error.code, message: error.message, data: error.data } };
      logger.warn("rpc method failed", { method: req.method, error });
      return {
        jsonrpc: "2.0",
        id,
        error: { code: -32603, message: `Internal error: ${(error as Error).message}` },
      };
    }
  };
  const handleMessage = (text: string, session: RpcSession): string => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } });
    }
    if (Array.isArray(parsed)) return JSON.stringify(parsed.map((r) => handleOne(r, session)));
    return JSON.stringify(handleOne(parsed, session));
  };

  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        new CacheonError(
          error.code === "EADDRINUSE" ? "failed-precondition" : "unavailable",
          `cannot listen on ${options.host ?? "127.0.0.1"}:${options.port ?? 9944}: ${error.message}${error.code === "EADDRINUSE" ? " (another devnet or node is running there: stop it or pass --port)" : ""}`,
        ),
      ),
    );
    server.listen(options.port ?? 9944, options.host ?? "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host ?? "127.0.0.1";

  let timer: NodeJS.Timeout | undefined;
  const produce = () => {
    try {
      return chain.produceBlock();
    } catch (error) {
      logger.error("block production failed", { error });
      throw error;
    }
  };
  if (blockTime > 0) {
    timer = setInterval(() => {
      const block = produce();
      logger.debug("block", { number: block.number, hash: block.hash, extrinsics: block.extrinsics.length });
    }, blockTime * 1000);
  }
  logger.info("devnet listening", { url: `ws://${host}:${port}`, blockTime, genesis: chain.genesisHash });

  return {
    url: `ws://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    chain,
    produceBlock: produce,
    waitForFinalized(number, signal) {
      return new Promise((resolve, reject) => {
        if (chain.finalizedNumber >= number) return resolve(chain.finalized);
        const stop = chain.subscribe({
          onFinalized(block) {
            if (block.number >= number) {
              stop();
              resolve(block);
            }
          },
        });
        signal?.addEventListener("abort", () => {
          stop();
          reject(new CacheonError("cancelled", "stopped waiting for finality"));
        });
      });
    },
    async close() {
      if (timer) clearInterval(timer);
      closeSockets();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
