// An agent's artefact uploads as the control plane sees them, driven by a hand-made agent (a raw
// session) so it can misbehave: announce targets the job never named or bodies above the limit,
// report an upload again and again, announce again after the check, report a job's result twice.
// Real gRPC on loopback, the real S3 server.
import { createHash } from "node:crypto";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { create } from "@bufbuild/protobuf";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { connectToController, enrolWithController } from "../../agent/session/controller-client.ts";
import {
  type AgentEvent,
  type AgentMessage,
  AgentMessageSchema,
  ArtefactReadySchema,
  ArtefactUploadedSchema,
  type ControllerMessage,
  JobFinishedSchema,
  type UploadGrant,
} from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import { EvaluationJobSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { JobResultSchema } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { testServices } from "../../test/support/services.ts";
import { ControlPlane } from "./control-plane.ts";
import { startControlPlaneServer } from "./control-plane-server.ts";
import { SqliteControlPlaneStore } from "./control-plane-store.ts";
import { S3UploadStorage } from "./s3-upload-storage.ts";
import type { UploadVerification } from "./upload-storage.ts";

const bucket = `cacheon-test-agent-uploads-${process.pid}`;
let client: S3Client;
beforeAll(async () => {
  const { s3 } = testServices();
  client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
  });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
});
afterAll(() => client?.destroy());
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const waitFor = async (what: string, check: () => boolean, ms = 15_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** A hand-driven agent session: sends what it is told, acknowledges what it receives, keeps the grants. */
function rawAgent(url: string, credential: { agentId: string; sessionCredential: string }) {
  const queue: AgentMessage[] = [
    create(AgentMessageSchema, { kind: { case: "hello", value: { agentId: credential.agentId } } }),
  ];
  let wake: (() => void) | undefined;
  let seq = 0;
  const received: ControllerMessage[] = [];
  const grants: UploadGrant[] = [];
  const stop = new AbortController();
  const push = (m: AgentMessage) => {
    queue.push(m);
    wake?.();
  };
  const connection = connectToController({ url });
  async function* outgoing(): AsyncGenerator<AgentMessage> {
    while (!stop.signal.aborted) {
      const next = queue.shift();
      if (next) yield next;
      else await new Promise<void>((r) => (wake = r));
    }
  }
  const running = (async () => {
    try {
      for await (const m of connection.client.session(outgoing(), {
        signal: stop.signal,
        headers: { authorization: `Bearer ${credential.sessionCredential}` },
      })) {
        received.push(m);
        const k = m.kind;
        if (k.case === "job" || k.case === "uploadGrant")
          push(create(AgentMessageSchema, { kind: { case: "ack", value: k.value.seq } }));
        if (k.case === "uploadGrant") grants.push(k.value);
      }
    } catch {
      // stopped
    }
  })();
  return {
    received,
    grants,
    send(payload: AgentEvent["payload"]) {
      seq += 1;
      push(
        create(AgentMessageSchema, {
          kind: { case: "event", value: { seq: BigInt(seq), atUnixMs: BigInt(Date.now()), payload } },
        }),
      );
    },
    async close() {
      stop.abort();
      wake?.();
      await running;
      connection.close();
    },
  };
}

describe("artefact uploads through the control plane", () => {
  it("grants one URL per announced body and checks it once; refuses what the job never named, oversized bodies, and a second round", async () => {
    const store = new SqliteControlPlaneStore();
    const uploads = new S3UploadStorage({ client, bucket });
    const controlPlane = new ControlPlane({
      store,
      uploads,
      heartbeatIntervalMs: 200,
      heartbeatDeadlineMs: 5000,
    });
    const server = await startControlPlaneServer({ controlPlane });
    cleanups.push(() => server.close());
    const verifications: UploadVerification[] = [];
    const finished: string[] = [];
    controlPlane.addListener({
      artefactVerified: (_agent, v) => verifications.push(v),
      jobFinished: (_agent, r) => finished.push(r.jobId),
    });
    const { token } = controlPlane.mintEnrolmentToken("pod-1", 60_000);
    const credential = await enrolWithController({
      endpoint: { url: server.url },
      token,
      podId: "pod-1",
      agentVersion: "t",
    });
    const agent = rawAgent(server.url, credential);
    cleanups.push(() => agent.close());
    await waitFor("the session", () => controlPlane.connectedAgents().length === 1);
    const job = await controlPlane.assignJob(
      credential.agentId,
      create(EvaluationJobSchema, { jobId: "job-1" }),
      {
        uploads: [{ name: "a0/log.txt", maxBytes: 64 }],
      },
    );
    // The job names its target without a URL: URLs come when the bytes are known.
    expect(job.uploads.map((u) => [u.name, u.url, u.maxBytes])).toEqual([["a0/log.txt", "", 64n]]);

    const body = new TextEncoder().encode("the arm's log\n");
    const sha256 = createHash("sha256").update(body).digest("hex");
    const ready = (name: string, sizeBytes: number) =>
      agent.send({
        case: "artefactReady",
        value: create(ArtefactReadySchema, { jobId: "job-1", name, sha256, sizeBytes: BigInt(sizeBytes) }),
      });
    ready("a0/other.txt", body.byteLength);
    ready("a0/log.txt", 65);
    ready("a0/log.txt", body.byteLength);
    await waitFor("three answers", () => agent.grants.length === 3);
    const [unnamed, oversized, granted] = agent.grants;
    expect(unnamed?.refused).toMatch(/upload of a0\/other\.txt refused: the job names no such upload target/);
    expect(oversized?.refused).toMatch(/65 bytes is above the 64 allowed/);
    expect(granted?.refused).toBe("");
    const target = granted?.target;
    if (!target) throw new Error("no URL granted");
    expect(target.maxBytes).toBe(BigInt(body.byteLength));
    // Minutes, not hours.
    expect(Number(target.expiresAtUnixMs) - Date.now()).toBeLessThanOrEqual(10 * 60_000);
    const put = await fetch(target.url, { method: "PUT", body, headers: granted?.headers });
    expect(put.ok).toBe(true);

    // Reported uploaded three times: checked once.
    for (let i = 0; i < 3; i += 1)
      agent.send({
        case: "artefact",
        value: create(ArtefactUploadedSchema, {
          jobId: "job-1",
          name: "a0/log.txt",
          sha256,
          sizeBytes: BigInt(body.byteLength),
        }),
      });
    await waitFor("the check", () => verifications.length === 1);
    expect(verifications[0]).toMatchObject({
      verified: true,
      location: `s3://${bucket}/jobs/job-1/a0/log.txt`,
    });
    // Announced again after the check: refused, nothing is uploaded twice.
    ready("a0/log.txt", body.byteLength);
    await waitFor("the fourth answer", () => agent.grants.length === 4);
    expect(agent.grants[3]?.refused).toMatch(/checked already \(verified\); an artefact is uploaded once/);
    expect(controlPlane.stats.artefactsChecked).toBe(1);
    expect(verifications).toHaveLength(1);

    // The job's result, twice with different figures: the first is the job's outcome.
    const first = create(JobResultSchema, { jobId: "job-1", reason: "first" });
    agent.send({ case: "jobFinished", value: create(JobFinishedSchema, { result: first }) });
    agent.send({
      case: "jobFinished",
      value: create(JobFinishedSchema, {
        result: create(JobResultSchema, { jobId: "job-1", reason: "second" }),
      }),
    });
    await waitFor("both results received", () => finished.length === 2);
    const outcome = controlPlane.jobOutcome("job-1");
    expect(outcome?.state === "finished" && outcome.result.reason).toBe("first");
  }, 60_000);
});
