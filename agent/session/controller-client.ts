import { create } from "@bufbuild/protobuf";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import {
  AgentService,
  EnrolRequestSchema,
  type EnrolResponse,
} from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import type { HardwareReport } from "../../shared/gen/cacheon/v1/hardware_pb.ts";
import { requireTlsOffLoopback } from "../../shared/net/loopback.ts";
import { cacheonErrorFromRpc } from "../../shared/retry/retryable.ts";
import { agentVersion } from "./agent-version.ts";

/** How to reach the controller. */
export interface ControllerEndpoint {
  /** Base URL, "https://host:port" (or "http://127.0.0.1:port" for a loopback controller). */
  url: string;
  /** PEM of a CA (or the self-signed certificate) to trust besides the system's. */
  caPem?: string | Buffer;
  /** Largest message either way, bytes. @default 4194304 */
  maxMessageBytes?: number;
}

/** A client of AgentService over its own fresh HTTP/2 connection, and a way to drop that connection. */
export interface ControllerConnection {
  client: Client<typeof AgentService>;
  /** Closes the HTTP/2 connection at once (streams on it fail). */
  close(): void;
}

/**
 * Checks the URL (https://, or http:// only to loopback: a token or credential must not cross a
 * network in clear text) and creates a gRPC client on a new HTTP/2 connection.
 */
export function connectToController(endpoint: ControllerEndpoint): ControllerConnection {
  // The enrolment token and the session credential travel on this connection.
  const url = requireTlsOffLoopback(endpoint.url, "controller URL");
  // One connection per session attempt: a reconnect never reuses a half-dead HTTP/2 session.
  const sessionManager = new Http2SessionManager(
    url,
    { pingIntervalMs: 10_000, pingTimeoutMs: 10_000 },
    endpoint.caPem ? { ca: endpoint.caPem } : {},
  );
  const transport = createGrpcTransport({
    baseUrl: endpoint.url,
    sessionManager,
    readMaxBytes: endpoint.maxMessageBytes ?? 4 * 1024 * 1024,
    writeMaxBytes: endpoint.maxMessageBytes ?? 4 * 1024 * 1024,
  });
  return { client: createClient(AgentService, transport), close: () => sessionManager.abort() };
}

/** What enrolment gives the agent; keep it to resume after a restart. */
export interface AgentCredential {
  agentId: string;
  sessionCredential: string;
  heartbeatIntervalMs: number;
  heartbeatDeadlineMs: number;
}

/** Options of {@link enrolWithController}. */
export interface EnrolOptions {
  endpoint: ControllerEndpoint;
  /** The one-time token from the pod's cloud-init. */
  token: string;
  podId: string;
  hardware?: HardwareReport;
  agentVersion?: string;
  signal?: AbortSignal;
  /** @default 30000 */
  timeoutMs?: number;
}

/** Trades a one-time enrolment token for an agent id and session credential. */
export async function enrolWithController(options: EnrolOptions): Promise<AgentCredential> {
  const { client, close } = connectToController(options.endpoint);
  let response: EnrolResponse;
  try {
    response = await client.enrol(
      create(EnrolRequestSchema, {
        enrolmentToken: options.token,
        podId: options.podId,
        ...(options.hardware ? { hardware: options.hardware } : {}),
        agentVersion: options.agentVersion ?? agentVersion,
      }),
      { timeoutMs: options.timeoutMs ?? 30_000, ...(options.signal ? { signal: options.signal } : {}) },
    );
  } catch (error) {
    throw cacheonErrorFromRpc(error, `enrolment with ${options.endpoint.url} as pod ${options.podId}`);
  } finally {
    close();
  }
  return {
    agentId: response.agentId,
    sessionCredential: response.sessionCredential,
    heartbeatIntervalMs: response.heartbeatIntervalMs,
    heartbeatDeadlineMs: response.heartbeatDeadlineMs,
  };
}
