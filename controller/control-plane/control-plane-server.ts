import type { IncomingMessage, ServerResponse } from "node:http";
import * as http2 from "node:http2";
import { type ConnectNodeAdapterOptions, connectNodeAdapter } from "@connectrpc/connect-node";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { file_cacheon_v1_agent_service } from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import { file_grpc_health_v1_health } from "../../shared/gen/grpc/health/v1/health_pb.ts";
import { file_grpc_reflection_v1_reflection } from "../../shared/gen/grpc/reflection/v1/reflection_pb.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import { isLoopbackHost } from "../../shared/net/loopback.ts";
import type { ControlPlane } from "./control-plane.ts";
import { registerHealth } from "./health-service.ts";
import { registerReflection } from "./reflection-service.ts";

type NodeHandlerFn = NonNullable<ConnectNodeAdapterOptions["fallback"]>;

/** Options of {@link startControlPlaneServer}. */
export interface ControlPlaneServerOptions {
  /** The control plane to serve. */
  controlPlane: ControlPlane;
  /** Address to listen on. @default "127.0.0.1" */
  host?: string;
  /** Port; 0 picks a free one. @default 0 */
  port?: number;
  /** PEM certificate chain and key; without them the server speaks plaintext HTTP/2 (h2c). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /**
   * Allow plaintext on a non-loopback address (behind a TLS-terminating proxy, say). Without it a
   * plaintext server refuses to listen anywhere but loopback. @default false
   */
  allowPlaintext?: boolean;
  /** @default silentLogger */
  logger?: Logger;
  /**
   * Handles requests that are not RPCs (e.g. the pods' boot reports); returns false for paths it
   * does not own, which are answered 404. With TLS, HTTP/1.1 clients (curl) reach it too
   * (allowHTTP1); a plaintext server speaks h2c only, so HTTP/1.1 clients cannot reach it.
   */
  fallback?: (
    req: IncomingMessage | http2.Http2ServerRequest,
    res: ServerResponse | http2.Http2ServerResponse,
  ) => boolean;
}

/** A running control plane server. */
export interface ControlPlaneServer {
  /** Base URL agents dial, e.g. "https://10.0.0.5:7443". */
  url: string;
  port: number;
  /** Stops accepting, ends live sessions with UNAVAILABLE, and closes connections. */
  close(): Promise<void>;
}

const serviceNames = [
  "cacheon.v1.AgentService",
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
];

/**
 * Serves the control plane (gRPC, gRPC-web and Connect on one HTTP/2 port), gRPC health checking
 * and server reflection. TLS when a certificate is configured; plaintext only on loopback unless
 * explicitly allowed.
 */
export async function startControlPlaneServer(
  options: ControlPlaneServerOptions,
): Promise<ControlPlaneServer> {
  const host = options.host ?? "127.0.0.1";
  const log = options.logger ?? silentLogger;
  const controlPlane = options.controlPlane;
  if (!options.tls && !options.allowPlaintext && !isLoopbackHost(host)) {
    throw new CacheonError(
      "invalid-config",
      `refusing to serve the control plane in plaintext on ${host}: agents' credentials would cross the network unencrypted. Configure a TLS certificate and key, listen on loopback, or set allow-plaintext if a TLS proxy sits in front`,
    );
  }
  let serving = true;
  const handler = connectNodeAdapter({
    routes: (router) => {
      controlPlane.routes(router);
      registerHealth(router, serviceNames, () => serving);
      registerReflection(
        router,
        [file_cacheon_v1_agent_service, file_grpc_health_v1_health, file_grpc_reflection_v1_reflection],
        serviceNames,
      );
    },
    readMaxBytes: controlPlane.limits.maxMessageBytes,
    writeMaxBytes: controlPlane.limits.maxMessageBytes,
    grpc: true,
    grpcWeb: true,
    connect: true,
    ...(options.fallback
      ? {
          fallback: (...[req, res]: Parameters<NodeHandlerFn>) => {
            // connect-node narrows the response type; both Node APIs are what it passes at runtime.
            if (options.fallback?.(req, res as unknown as http2.Http2ServerResponse)) return;
            res.writeHead(404);
            res.end();
          },
        }
      : {}),
  });
  const server = options.tls
    ? http2.createSecureServer({ cert: options.tls.cert, key: options.tls.key, allowHTTP1: true }, handler)
    : http2.createServer(handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        new CacheonError(
          "invalid-config",
          `cannot listen on ${host}:${options.port ?? 0}: ${error.message}`,
          {
            cause: error,
          },
        ),
      ),
    );
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const url = `${options.tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${port}`;
  log.info("control plane listening", { url, tls: Boolean(options.tls) });
  return {
    url,
    port,
    async close() {
      serving = false;
      controlPlane.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.close();
      const force = setTimeout(() => {
        for (const session of sessions) session.destroy();
      }, 2000);
      await closed;
      clearTimeout(force);
    },
  };
}
