import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { enrolWithController } from "../../agent/session/controller-client.ts";
import {
  type AgentMessage,
  AgentMessageSchema,
  type ControllerMessage,
  ControllerMessageSchema,
  EnrolRequestSchema,
  type EnrolResponse,
  EnrolResponseSchema,
} from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import { EvaluationJobSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import {
  HealthCheckRequestSchema,
  type HealthCheckResponse,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from "../../shared/gen/grpc/health/v1/health_pb.ts";
import {
  ServerReflectionRequestSchema,
  type ServerReflectionResponse,
  ServerReflectionResponseSchema,
} from "../../shared/gen/grpc/reflection/v1/reflection_pb.ts";
import { isLoopbackHost } from "../../shared/net/loopback.ts";
import { makeSelfSignedCert } from "../../test/support/self-signed-cert.ts";
import { ControlPlane } from "./control-plane.ts";
import type { ControlPlaneOptions } from "./control-plane-options.ts";
import { type ControlPlaneServer, startControlPlaneServer } from "./control-plane-server.ts";
import { SqliteControlPlaneStore } from "./control-plane-store.ts";

// A self-signed certificate made at test time, so TLS is exercised for real.
let certDir = "";
let cert = "";
let key = "";
beforeAll(() => {
  certDir = mkdtempSync(join(tmpdir(), "cacheon-cp-tls-"));
  const files = makeSelfSignedCert(certDir);
  cert = readFileSync(files.cert, "utf8");
  key = readFileSync(files.key, "utf8");
});
afterAll(() => rmSync(certDir, { recursive: true, force: true }));

const cleanups: (() => Promise<void> | void)[] = [];
/** Waits until `check` holds (a loaded machine makes fixed sleeps flaky). */
const until = async (check: () => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
};
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(options: Partial<ControlPlaneOptions> & { tls?: boolean } = {}) {
  const store = new SqliteControlPlaneStore();
  const clock = { now: Date.now() };
  const controlPlane = new ControlPlane({
    store,
    heartbeatIntervalMs: 100,
    heartbeatDeadlineMs: 1000,
    now: () => clock.now,
    ...options,
  });
  const server: ControlPlaneServer = await startControlPlaneServer({
    controlPlane,
    ...(options.tls ? { tls: { cert, key } } : {}),
  });
  cleanups.push(
    () => store.close(),
    () => server.close(),
  );
  return { store, clock, controlPlane, server };
}

// @grpc/grpc-js as an independent client: generic client + protobuf-es serializers.
function grpcJsClient(server: ControlPlaneServer, tls: boolean): grpc.Client {
  const creds = tls ? grpc.credentials.createSsl(Buffer.from(cert)) : grpc.credentials.createInsecure();
  const client = new grpc.Client(`127.0.0.1:${server.port}`, creds, {
    "grpc.ssl_target_name_override": "localhost",
  });
  cleanups.push(() => client.close());
  return client;
}

function unary<Req, Res>(
  client: grpc.Client,
  path: string,
  request: Req,
  encode: (r: Req) => Uint8Array,
  decode: (b: Uint8Array) => Res,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      path,
      (r: Req) => Buffer.from(encode(r)),
      (b: Buffer) => decode(b),
      request,
      (error, response) => (error ? reject(error) : resolve(response as Res)),
    );
  });
}

/** Opens a Session with raw control over what is written, and collects the status. */
function rawSession(client: grpc.Client, credential: string) {
  const metadata = new grpc.Metadata();
  if (credential) metadata.set("authorization", `Bearer ${credential}`);
  const call = client.makeBidiStreamRequest(
    "/cacheon.v1.AgentService/Session",
    (b: Buffer) => b,
    (b: Buffer) => fromBinary(ControllerMessageSchema, b),
    metadata,
  );
  const received: ControllerMessage[] = [];
  call.on("data", (m: ControllerMessage) => received.push(m));
  const status = new Promise<grpc.StatusObject>((resolve) => {
    call.on("status", resolve);
    call.on("error", () => {});
  });
  const send = (m: AgentMessage | Buffer) =>
    call.write(Buffer.isBuffer(m) ? m : Buffer.from(toBinary(AgentMessageSchema, m)));
  return { call, received, status, send };
}

const hello = (agentId: string, lastControllerSeq = 0n) =>
  create(AgentMessageSchema, { kind: { case: "hello", value: { agentId, lastControllerSeq } } });
const progressEvent = (seq: number, jobId: string, message = "") =>
  create(AgentMessageSchema, {
    kind: {
      case: "event",
      value: {
        seq: BigInt(seq),
        atUnixMs: BigInt(Date.now()),
        payload: { case: "progress", value: { jobId, phase: "measure", done: seq, message } },
      },
    },
  });

async function enrol(server: ControlPlaneServer, controlPlane: ControlPlane, podId: string) {
  const { token } = controlPlane.mintEnrolmentToken(podId, 60_000);
  return enrolWithController({ endpoint: { url: server.url }, token, podId });
}

describe("control plane server: wire interop", () => {
  it("answers @grpc/grpc-js over TLS: health check, then Enrol", async () => {
    const { server, controlPlane } = await serve({ tls: true });
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const client = grpcJsClient(server, true);
    const health = await unary(
      client,
      "/grpc.health.v1.Health/Check",
      create(HealthCheckRequestSchema, { service: "cacheon.v1.AgentService" }),
      (r) => toBinary(HealthCheckRequestSchema, r),
      (b): HealthCheckResponse => fromBinary(HealthCheckResponseSchema, b),
    );
    expect(health.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    await expect(
      unary(
        client,
        "/grpc.health.v1.Health/Check",
        create(HealthCheckRequestSchema, { service: "no.Such" }),
        (r) => toBinary(HealthCheckRequestSchema, r),
        (b) => fromBinary(HealthCheckResponseSchema, b),
      ),
    ).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });

    const { token } = controlPlane.mintEnrolmentToken("pod-grpcjs", 60_000);
    const enrolled = await unary(
      client,
      "/cacheon.v1.AgentService/Enrol",
      create(EnrolRequestSchema, { enrolmentToken: token, podId: "pod-grpcjs", agentVersion: "grpc-js" }),
      (r) => toBinary(EnrolRequestSchema, r),
      (b): EnrolResponse => fromBinary(EnrolResponseSchema, b),
    );
    expect(enrolled.agentId).toMatch(/^agent-/);
    expect(enrolled.sessionCredential).toMatch(/^cps_/);
    expect(enrolled.heartbeatDeadlineMs).toBe(1000);
  });

  it("serves reflection v1: lists services and returns file descriptors with their imports", async () => {
    const { server } = await serve();
    const client = grpcJsClient(server, false);
    const call = client.makeBidiStreamRequest(
      "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
      (b: Buffer) => b,
      (b: Buffer) => fromBinary(ServerReflectionResponseSchema, b),
    );
    const responses: ServerReflectionResponse[] = [];
    const done = new Promise<void>((resolve) => {
      call.on("data", (r: ServerReflectionResponse) => {
        responses.push(r);
        if (responses.length === 3) resolve();
      });
    });
    for (const messageRequest of [
      { case: "listServices", value: "" },
      { case: "fileContainingSymbol", value: "cacheon.v1.AgentService.Session" },
      { case: "fileContainingSymbol", value: "no.such.Symbol" },
    ] as const) {
      call.write(
        Buffer.from(
          toBinary(ServerReflectionRequestSchema, create(ServerReflectionRequestSchema, { messageRequest })),
        ),
      );
    }
    await done;
    call.end();
    const [list, file, missing] = responses;
    expect(
      list?.messageResponse.case === "listServicesResponse" &&
        list.messageResponse.value.service.map((s) => s.name),
    ).toEqual(["cacheon.v1.AgentService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"]);
    expect(file?.messageResponse.case).toBe("fileDescriptorResponse");
    const count =
      file?.messageResponse.case === "fileDescriptorResponse"
        ? file.messageResponse.value.fileDescriptorProto.length
        : 0;
    // agent_service.proto plus hardware, job, metrics, result, image, workload, correctness.
    expect(count).toBeGreaterThanOrEqual(5);
    expect(missing?.messageResponse.case).toBe("errorResponse");
  });

  it("refuses plaintext on a non-loopback address unless explicitly allowed", async () => {
    const store = new SqliteControlPlaneStore();
    cleanups.push(() => store.close());
    const controlPlane = new ControlPlane({ store });
    await expect(startControlPlaneServer({ controlPlane, host: "0.0.0.0" })).rejects.toMatchObject({
      code: "invalid-config",
      message: /refusing to serve the control plane in plaintext on 0\.0\.0\.0.*Configure a TLS certificate/,
    });
    expect(isLoopbackHost("127.0.0.1")).toBe(true);
    expect(isLoopbackHost("::1")).toBe(true);
    expect(isLoopbackHost("[::1]")).toBe(true);
    expect(isLoopbackHost("localhost")).toBe(true);
    expect(isLoopbackHost("10.0.0.1")).toBe(false);
    expect(isLoopbackHost("::")).toBe(false);
  });
});

describe("enrolment refusals", () => {
  it("refuses a reused, expired, forged, malformed or wrong-pod token and a second agent for a pod", async () => {
    const { server, controlPlane, clock } = await serve();
    const endpoint = { url: server.url };
    const { token } = controlPlane.mintEnrolmentToken("pod-a", 60_000);
    await enrolWithController({ endpoint, token, podId: "pod-a" });
    await expect(enrolWithController({ endpoint, token, podId: "pod-a" })).rejects.toMatchObject({
      code: "permission-denied",
      message: /already used/,
    });

    const expiring = controlPlane.mintEnrolmentToken("pod-b", 1000);
    clock.now += 1001;
    await expect(
      enrolWithController({ endpoint, token: expiring.token, podId: "pod-b" }),
    ).rejects.toMatchObject({
      code: "permission-denied",
      message: /expired/,
    });

    const forged = `cpe_${"A".repeat(43)}`;
    await expect(enrolWithController({ endpoint, token: forged, podId: "pod-b" })).rejects.toMatchObject({
      code: "permission-denied",
      message: /unknown enrolment token/,
    });
    await expect(enrolWithController({ endpoint, token: "hunter2", podId: "pod-b" })).rejects.toMatchObject({
      code: "permission-denied",
      message: /malformed/,
    });

    const forC = controlPlane.mintEnrolmentToken("pod-c", 60_000);
    await expect(enrolWithController({ endpoint, token: forC.token, podId: "pod-d" })).rejects.toMatchObject({
      code: "permission-denied",
      message: /minted for another pod/,
    });
    // The refused attempt did not burn the token for its own pod.
    await enrolWithController({ endpoint, token: forC.token, podId: "pod-c" });

    const second = controlPlane.mintEnrolmentToken("pod-a", 60_000);
    await expect(
      enrolWithController({ endpoint, token: second.token, podId: "pod-a" }),
    ).rejects.toMatchObject({
      code: "failed-precondition",
      message: /another agent is already enrolled/,
    });
    await expect(enrolWithController({ endpoint, token, podId: "pod with spaces" })).rejects.toMatchObject({
      code: "invalid-argument",
      message: /invalid pod id/,
    });
  });

  it("stores only hashes of tokens and credentials", async () => {
    const { server, controlPlane, store } = await serve();
    const { token } = controlPlane.mintEnrolmentToken("pod-h", 60_000);
    const credential = await enrolWithController({ endpoint: { url: server.url }, token, podId: "pod-h" });
    const agent = store.agent(credential.agentId);
    expect(agent?.credentialHash).toMatch(/^[0-9a-f]{64}$/);
    expect(agent?.credentialHash).not.toContain(credential.sessionCredential);
    expect(JSON.stringify(store.agent(credential.agentId))).not.toContain(
      credential.sessionCredential.slice(4),
    );
  });
});

describe("session refusals: a bad session ends with a clear status, the controller stays up", () => {
  it("refuses a session without a valid credential (UNAUTHENTICATED)", async () => {
    const { server } = await serve();
    const client = grpcJsClient(server, false);
    const none = rawSession(client, "");
    none.send(hello("agent-x"));
    expect(await none.status).toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
      details: /missing "authorization/,
    });
    const forged = rawSession(client, `cps_${"B".repeat(43)}`);
    forged.send(hello("agent-x"));
    expect(await forged.status).toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
      details: /unknown session credential/,
    });
  });

  it("ends a session whose first message is not a Hello, or whose Hello names another agent", async () => {
    const { server, controlPlane } = await serve();
    const credential = await enrol(server, controlPlane, "pod-h1");
    const client = grpcJsClient(server, false);
    const s = rawSession(client, credential.sessionCredential);
    s.send(progressEvent(1, "j"));
    expect(await s.status).toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: /first message of a session must be a Hello/,
    });
    const t = rawSession(client, credential.sessionCredential);
    t.send(hello("agent-someone-else"));
    expect(await t.status).toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
      details: /credential belongs to/,
    });
  });

  it("ends a session that sends an unparseable message (INVALID_ARGUMENT) and keeps serving others", async () => {
    const { server, controlPlane } = await serve();
    const credential = await enrol(server, controlPlane, "pod-m");
    const client = grpcJsClient(server, false);
    const s = rawSession(client, credential.sessionCredential);
    s.send(hello(credential.agentId));
    // Field 3 (event) as a length-delimited field claiming 100 bytes, followed by 2.
    s.send(Buffer.from([0x1a, 100, 1, 2]));
    const status = await s.status;
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    // connect-es percent-encodes grpc-message more eagerly than grpc-js decodes it.
    expect(decodeURIComponent(status.details)).toMatch(/^malformed AgentMessage: parse binary/);
    const health = await unary(
      client,
      "/grpc.health.v1.Health/Check",
      create(HealthCheckRequestSchema, {}),
      (r) => toBinary(HealthCheckRequestSchema, r),
      (b) => fromBinary(HealthCheckResponseSchema, b),
    );
    expect(health.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });

  it("ends a session that sends an oversized message (RESOURCE_EXHAUSTED) before parsing it", async () => {
    const { server, controlPlane } = await serve({ limits: { maxMessageBytes: 64 * 1024 } });
    const credential = await enrol(server, controlPlane, "pod-big");
    const client = grpcJsClient(server, false);
    const s = rawSession(client, credential.sessionCredential);
    s.send(hello(credential.agentId));
    s.send(progressEvent(1, "j", "x".repeat(100 * 1024)));
    const status = await s.status;
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details).toMatch(/larger than|exceeds|max/i);
  });

  it("ends a session that goes silent past the heartbeat deadline (DEADLINE_EXCEEDED)", async () => {
    const { server, controlPlane } = await serve({
      heartbeatIntervalMs: 20,
      heartbeatDeadlineMs: 150,
      now: Date.now,
    });
    const credential = await enrol(server, controlPlane, "pod-silent");
    const client = grpcJsClient(server, false);
    const s = rawSession(client, credential.sessionCredential);
    s.send(hello(credential.agentId));
    const status = await s.status;
    expect(status.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(status.details).toMatch(/heartbeat deadline 150 ms/);
    expect(s.received[0]?.kind.case).toBe("welcome");
    expect(s.received.some((m) => m.kind.case === "heartbeat")).toBe(true);
  });

  it("stores each event once: resent events are acked and dropped, gaps and reordering end the session", async () => {
    const { server, controlPlane } = await serve();
    const credential = await enrol(server, controlPlane, "pod-seq");
    const client = grpcJsClient(server, false);
    const first = rawSession(client, credential.sessionCredential);
    first.send(hello(credential.agentId));
    await until(() => controlPlane.connectedAgents().length === 1);
    await controlPlane.assignJob(credential.agentId, create(EvaluationJobSchema, { jobId: "j1" }));
    for (let seq = 1; seq <= 10; seq++) first.send(progressEvent(seq, "j1"));
    await new Promise((r) => setTimeout(r, 100));
    first.call.end();
    await first.status;
    expect(controlPlane.stats.eventsStored).toBe(10);

    // A second session resends 5..10 (already stored) and continues with 11..15.
    const second = rawSession(client, credential.sessionCredential);
    second.send(hello(credential.agentId, 1n));
    for (let seq = 5; seq <= 15; seq++) second.send(progressEvent(seq, "j1"));
    await new Promise((r) => setTimeout(r, 100));
    expect(second.received[0]).toMatchObject({ kind: { case: "welcome", value: { lastAgentSeq: 10n } } });
    expect(controlPlane.events(credential.agentId).map((e) => Number(e.seq))).toEqual(
      Array.from({ length: 15 }, (_, i) => i + 1),
    );
    expect(controlPlane.stats.duplicatesDropped).toBe(6);
    const acks = second.received.filter((m) => m.kind.case === "ack").map((m) => m.kind.value);
    expect(acks.at(-1)).toBe(15n);

    // Going backwards inside a session is malformed.
    second.send(progressEvent(12, "j1"));
    expect(await second.status).toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: /does not increase/,
    });

    const third = rawSession(client, credential.sessionCredential);
    third.send(hello(credential.agentId, 1n));
    third.send(progressEvent(20, "j1"));
    expect(await third.status).toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: /skips ahead of the last stored 15/,
    });

    const fourth = rawSession(client, credential.sessionCredential);
    fourth.send(hello(credential.agentId, 1n));
    fourth.send(progressEvent(16, "job-of-someone-else"));
    expect(await fourth.status).toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: /never assigned to this agent/,
    });
    expect(controlPlane.stats.eventsStored).toBe(15);
  });

  it("resends an unacknowledged job after a reconnect, and not once acknowledged", async () => {
    const { server, controlPlane } = await serve();
    const credential = await enrol(server, controlPlane, "pod-job");
    const client = grpcJsClient(server, false);
    const first = rawSession(client, credential.sessionCredential);
    first.send(hello(credential.agentId));
    await until(() => controlPlane.connectedAgents().length === 1);
    await controlPlane.assignJob(credential.agentId, create(EvaluationJobSchema, { jobId: "j-resend" }));
    await until(() => first.received.some((m) => m.kind.case === "job"));
    first.call.end();
    await first.status;

    const second = rawSession(client, credential.sessionCredential);
    second.send(hello(credential.agentId, 0n));
    await until(() => second.received.some((m) => m.kind.case === "job"));
    const job = second.received.find((m) => m.kind.case === "job");
    expect(job?.kind.case === "job" && job.kind.value.job?.jobId).toBe("j-resend");
    second.send(create(AgentMessageSchema, { kind: { case: "ack", value: 1n } }));
    second.send(create(AgentMessageSchema, { kind: { case: "ack", value: 99n } }));
    expect(await second.status).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: /never sent/ });

    const third = rawSession(client, credential.sessionCredential);
    third.send(hello(credential.agentId, 1n));
    await until(() => third.received.some((m) => m.kind.case === "welcome"));
    await new Promise((r) => setTimeout(r, 50));
    expect(third.received.filter((m) => m.kind.case === "job")).toEqual([]);
    third.call.end();
    await third.status;
  });
});
