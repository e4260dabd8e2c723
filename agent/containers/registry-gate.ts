import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { readCappedText } from "../../shared/http/read-capped-text.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import { isLoopbackHost } from "../../shared/net/loopback.ts";
import { formatBytes } from "../../shared/text/format-bytes.ts";
import { createUnpackedSizeCounter } from "./unpacked-size-counter.ts";

/** Options of {@link openRegistryGate}. */
export interface RegistryGateOptions {
  /** The registry the image comes from, host[:port]; "docker.io" is reached at registry-1.docker.io. */
  registry: string;
  /** Largest size of the image, bytes: its declared compressed size and its unpacked size. */
  maxBytes: number;
  /** Registries reached over plain HTTP besides loopback ones (which always are, as Docker does). */
  insecureRegistries?: readonly string[];
  /** Largest manifest accepted, bytes. @default 4 MiB */
  maxManifestBytes?: number;
  logger?: Logger;
}

/** What a gate has seen of its pull. */
export interface GateStats {
  /** Compressed bytes passed to the engine. */
  downloaded: number;
  /** Their unpacked size, as counted so far. */
  unpacked: number;
  /** Compressed size the manifest declares (config and layers); 0 before the manifest. */
  declared: number;
  /** When bytes last moved, ms since the epoch (a stalled registry shows here). */
  lastActivityMs: number;
}

/** A loopback registry in front of one pull's registry; see {@link openRegistryGate}. */
export interface RegistryGate {
  /** "127.0.0.1:port": the engine pulls `${host}/${repository}@${digest}` through it. */
  host: string;
  /** The first refusal, if any: the pull must stop and fail with it. */
  refusal(): CacheonError | undefined;
  /** Calls `listener` once, at the first refusal. */
  onRefusal(listener: (error: CacheonError) => void): void;
  stats(): GateStats;
  /** Stops listening and cuts every transfer. */
  close(): Promise<void>;
}

/** Docker Hub's registry API host (the name "docker.io" is only a name). */
const dockerHubApi = "registry-1.docker.io";

/** The base URL of a registry's API as the engine would reach it. Pure. */
export function registryBaseUrl(registry: string, insecure: readonly string[] = []): string {
  const host = registry === "docker.io" ? dockerHubApi : registry;
  const hostname = host.replace(/:\d+$/, "");
  const plain = isLoopbackHost(hostname) || insecure.includes(registry);
  return `${plain ? "http" : "https"}://${host}`;
}

/** Why an image manifest is refused before any layer is fetched; undefined when it may be pulled. Pure. */
export function manifestProblem(manifest: unknown, maxBytes: number): { problem?: string; declared: number } {
  const m = (manifest ?? {}) as {
    schemaVersion?: number;
    manifests?: unknown[];
    config?: { size?: unknown };
    layers?: Array<{ size?: unknown; urls?: unknown[]; annotations?: Record<string, string> }>;
  };
  // An index (manifest list) names per-platform manifests; the engine fetches one of them next,
  // through the gate, and that one is checked.
  if (Array.isArray(m.manifests)) return { declared: 0 };
  if (m.schemaVersion === 1 || !Array.isArray(m.layers)) {
    return {
      declared: 0,
      problem:
        "its manifest declares no layer sizes (schema 1 or unknown), so its size cannot be checked before the pull; push it with a current Docker (schema 2 or OCI)",
    };
  }
  let declared = Number(m.config?.size ?? 0);
  let unpacked = 0;
  for (const layer of m.layers) {
    const size = Number(layer.size);
    if (!Number.isSafeInteger(size) || size < 0) {
      return { declared, problem: "a layer in its manifest has no valid size" };
    }
    declared += size;
    // Foreign layers are fetched by the engine from their own URLs, around the gate.
    if (Array.isArray(layer.urls) && layer.urls.length > 0) {
      return {
        declared,
        problem:
          "it has foreign layers (fetched from URLs outside the registry); push every layer to the registry",
      };
    }
    for (const [key, value] of Object.entries(layer.annotations ?? {})) {
      if (/uncompressed[-_.]?size$/i.test(key) && Number.isFinite(Number(value))) unpacked += Number(value);
    }
  }
  if (declared > maxBytes) {
    return {
      declared,
      problem: `its manifest declares ${formatBytes(declared)} of compressed layers, over the ${formatBytes(maxBytes)} limit; nothing was downloaded`,
    };
  }
  if (unpacked > maxBytes) {
    return {
      declared,
      problem: `its manifest declares ${formatBytes(unpacked)} unpacked, over the ${formatBytes(maxBytes)} limit; nothing was downloaded`,
    };
  }
  return { declared };
}

/**
 * Opens a registry on loopback that the Docker engine pulls one image through: it forwards every
 * request to the image's registry (authentication included: the engine fetches its own tokens),
 * refuses the image from its manifest when the layers it declares are over the limit, and counts
 * every blob's unpacked size as it streams to the engine, cutting the transfer once the image
 * would unpack past the limit. The engine unpacks a layer only after downloading and verifying all
 * of it, so a layer cut here is never unpacked: a small image that unpacks huge (a compression
 * bomb, a lying size annotation) is refused before it touches the disk. Docker reaches 127.0.0.0/8
 * registries over plain HTTP without configuration.
 */
export async function openRegistryGate(options: RegistryGateOptions): Promise<RegistryGate> {
  const logger = options.logger ?? silentLogger;
  const base = registryBaseUrl(options.registry, options.insecureRegistries);
  const maxManifestBytes = options.maxManifestBytes ?? 4 * 1024 * 1024;
  const closing = new AbortController();
  const stats: GateStats = { downloaded: 0, unpacked: 0, declared: 0, lastActivityMs: Date.now() };
  const unpackedByBlob = new Map<string, number>();
  const listeners: Array<(error: CacheonError) => void> = [];
  let refused: CacheonError | undefined;
  const refuse = (message: string): CacheonError => {
    if (!refused) {
      refused = new CacheonError("resource-exhausted", message);
      logger.warn("pull refused by the registry gate", { registry: options.registry, reason: message });
      for (const listener of listeners.splice(0)) listener(refused);
    }
    return refused;
  };
  const sockets = new Set<Socket>();

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent && !res.destroyed) {
        registryError(res, 502, "UNAVAILABLE", `cacheon gate: ${(error as Error).message}`);
      } else {
        res.destroy();
      }
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.resume();
    const url = new URL(req.url ?? "/", "http://gate");
    if (req.method !== "GET" && req.method !== "HEAD") {
      return registryError(res, 405, "UNSUPPORTED", "cacheon gate: pulls only");
    }
    if (refused) return registryError(res, 403, "DENIED", refused.message);
    const headers: Record<string, string> = { "accept-encoding": "identity" };
    for (const name of ["accept", "authorization", "user-agent"]) {
      const value = req.headers[name];
      if (typeof value === "string") headers[name] = value;
    }
    const manifest = /^\/v2\/.+\/manifests\/[^/]+$/.test(url.pathname);
    const blob = /^\/v2\/.+\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname)?.[1];
    // The engine keeps manifests it pulled before and may only HEAD one it knows, then fetch its
    // blobs: a manifest is always fetched whole here and checked, also for a HEAD.
    // A resumed download would be counted from its middle: ask for the whole blob (the engine
    // accepts a 200 to a ranged request and skips what it has).
    const upstream = await fetch(`${base}${url.pathname}${url.search}`, {
      method: manifest ? "GET" : req.method,
      headers,
      redirect: "follow",
      signal: closing.signal,
    });
    const forwarded = forwardHeaders(upstream);
    if (upstream.ok && manifest) return sendManifest(upstream, res, forwarded, req.method === "HEAD");
    if (req.method === "GET" && upstream.ok && blob) return sendBlob(blob, upstream, res, forwarded);
    // Pings, challenges, errors and HEADs: small, passed on (a body over 64 KiB is cut).
    const { text } = await readCappedText(upstream);
    if (req.method === "HEAD") {
      res.writeHead(upstream.status, forwarded);
      return void res.end();
    }
    const body = Buffer.from(text, "utf8");
    res.writeHead(upstream.status, { ...forwarded, "content-length": String(body.length) });
    res.end(body);
  }

  async function sendManifest(
    upstream: Response,
    res: ServerResponse,
    headers: Record<string, string>,
    headOnly: boolean,
  ) {
    const { text, truncated } = await readCappedText(upstream, maxManifestBytes);
    if (truncated) {
      return registryError(
        res,
        403,
        "DENIED",
        refuse(`its manifest is over ${formatBytes(maxManifestBytes)}`).message,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return registryError(res, 403, "DENIED", refuse("its manifest is not JSON").message);
    }
    const verdict = manifestProblem(parsed, options.maxBytes);
    if (verdict.problem) return registryError(res, 403, "DENIED", refuse(verdict.problem).message);
    stats.declared = Math.max(stats.declared, verdict.declared);
    const body = Buffer.from(text, "utf8");
    res.writeHead(upstream.status, { ...headers, "content-length": String(body.length) });
    res.end(headOnly ? undefined : body);
  }

  async function sendBlob(
    digest: string,
    upstream: Response,
    res: ServerResponse,
    headers: Record<string, string>,
  ): Promise<void> {
    const counted = unpackedByBlob.get(digest) ?? 0;
    const others = stats.unpacked - counted;
    unpackedByBlob.set(digest, 0);
    stats.unpacked = others;
    const counter = createUnpackedSizeCounter((total) => {
      // A retried blob counts once: its latest attempt replaces the earlier one.
      unpackedByBlob.set(digest, total);
      stats.unpacked = others + total;
      if (stats.unpacked > options.maxBytes) {
        throw refuse(
          `it unpacks to more than ${formatBytes(options.maxBytes)} (counted while downloading, before the engine unpacked anything; ${formatBytes(stats.downloaded)} downloaded)`,
        );
      }
    });
    res.writeHead(upstream.status, headers);
    const reader = upstream.body?.getReader();
    try {
      while (reader) {
        const { done, value } = await reader.read();
        if (done) break;
        stats.downloaded += value.length;
        stats.lastActivityMs = Date.now();
        await counter.write(value);
        if (!res.write(value)) await once(res, "drain");
      }
      await counter.end();
      res.end();
    } catch (error) {
      // Cut the transfer: the engine sees a short blob, never a whole one to unpack.
      counter.destroy();
      await reader?.cancel().catch(() => {});
      res.destroy();
      if (!(error instanceof CacheonError) && !closing.signal.aborted) {
        refuse(`a layer could not be counted: ${(error as Error).message}`);
      }
    }
  }

  return {
    host: `127.0.0.1:${port}`,
    refusal: () => refused,
    onRefusal(listener) {
      if (refused) listener(refused);
      else listeners.push(listener);
    },
    stats: () => ({ ...stats }),
    async close() {
      closing.abort();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Response headers the engine needs from the registry (no hop-by-hop or encoding headers). */
function forwardHeaders(upstream: Response): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of [
    "content-type",
    "docker-content-digest",
    "docker-distribution-api-version",
    "www-authenticate",
    "content-length",
  ]) {
    const value = upstream.headers.get(name);
    if (value !== null) out[name] = value;
  }
  return out;
}

/** Answers in the registry API's error format, which the engine quotes in its pull error. */
function registryError(res: ServerResponse, status: number, code: string, message: string): void {
  const body = JSON.stringify({ errors: [{ code, message: `cacheon: ${message}` }] });
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}
