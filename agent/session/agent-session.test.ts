import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { ControlPlane } from "../../controller/control-plane/control-plane.ts";
import {
  type ControlPlaneServer,
  startControlPlaneServer,
} from "../../controller/control-plane/control-plane-server.ts";
import { SqliteControlPlaneStore } from "../../controller/control-plane/control-plane-store.ts";
import { EvaluationJobSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import type { JobResult } from "../../shared/gen/cacheon/v1/result_pb.ts";
import type { JobExecutor } from "../job/job-executor.ts";
import { runAgentSession } from "./agent-session.ts";
import { enrolWithController } from "./controller-client.ts";
import { EventOutbox } from "./event-outbox.ts";
import { chattyExecutor } from "./testing/chatty-executor.ts";
import { startTcpProxy, type TcpProxy } from "./testing/tcp-proxy.ts";

const fast = { initialDelayMs: 1, maxDelayMs: 5, jitter: 0.5 };
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setUp(options: { heartbeatIntervalMs?: number; heartbeatDeadlineMs?: number } = {}) {
  const store = new SqliteControlPlaneStore();
  const controlPlane = new ControlPlane({
    store,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 200,
    heartbeatDeadlineMs: options.heartbeatDeadlineMs ?? 2000,
  });
  const server: ControlPlaneServer = await startControlPlaneServer({ controlPlane });
  const proxy: TcpProxy = await startTcpProxy(server.port);
  cleanups.push(
    () => store.close(),
    () => server.close(),
    () => proxy.close(),
  );
  const endpoint = { url: `http://127.0.0.1:${proxy.port}` };
  return { store, controlPlane, server, proxy, endpoint };
}

async function enrolled(endpoint: { url: string }, controlPlane: ControlPlane, podId: string) {
  const { token } = controlPlane.mintEnrolmentToken(podId, 60_000);
  return enrolWithController({ endpoint, token, podId, agentVersion: "test" });
}

function startAgent(
  options: Parameters<typeof runAgentSession>[0] extends infer O ? Omit<O, "signal"> : never,
) {
  const stop = new AbortController();
  const running = runAgentSession({ ...options, signal: stop.signal, backoff: fast });
  cleanups.push(async () => {
    stop.abort();
    await running.catch(() => {});
  });
  return { stop, running };
}

function waitFor<T>(register: (resolve: (value: T) => void) => void, what: string, ms = 20_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    register((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

describe("agent session against a real controller over loopback", () => {
  it("survives connections cut mid-job: every event stored once, in order, none lost", async () => {
    const { controlPlane, endpoint, proxy } = await setUp();
    const credential = await enrolled(endpoint, controlPlane, "pod-1");
    const events = 5000;
    const outbox = new EventOutbox();
    let cuts = 0;
    let received = 0;
    controlPlane.addListener({
      event: () => {
        received += 1;
        // Cut the connection three times while the job streams, at different points.
        if (received === 700 || received === 2100 || received === 3900) {
          cuts += 1;
          proxy.cutAll();
        }
      },
    });
    const finished = waitFor<JobResult>(
      (resolve) => controlPlane.addListener({ jobFinished: (_agent, result) => resolve(result) }),
      "the job to finish",
    );
    const connected = waitFor<void>(
      (resolve) => controlPlane.addListener({ sessionChanged: (_a, up) => up && resolve() }),
      "a session",
    );
    startAgent({
      endpoint,
      credential,
      executor: chattyExecutor({ events, yieldEvery: 25, pauseMs: 1 }),
      outbox,
    });
    await connected;
    await controlPlane.assignJob(
      credential.agentId,
      create(EvaluationJobSchema, { jobId: "job-1", roundId: "r1" }),
    );
    const result = await finished;

    expect(result.jobId).toBe("job-1");
    expect(cuts).toBe(3);
    expect(proxy.accepted).toBeGreaterThanOrEqual(4);
    const stored = controlPlane.events(credential.agentId);
    // Every job event plus the final jobFinished, each seq exactly once, contiguous from 1.
    expect(stored.length).toBe(events + 1);
    expect(stored.map((e) => Number(e.seq))).toEqual(Array.from({ length: events + 1 }, (_, i) => i + 1));
    const progress = stored
      .filter((e) => e.payload.case === "progress")
      .map((e) => (e.payload.value as { done: number }).done);
    expect(progress).toEqual(Array.from({ length: events / 2 }, (_, i) => 2 * i + 1));
    expect(stored.at(-1)?.payload.case).toBe("jobFinished");
    expect(controlPlane.connectedAgents().map((a) => a.openJobIds)).toEqual([[]]);
    // The agent drops events as they are acknowledged.
    await waitFor<void>((resolve) => {
      const poll = setInterval(() => {
        if (outbox.size > 0) return;
        clearInterval(poll);
        resolve();
      }, 5);
    }, "the outbox to drain");
  }, 60_000);

  it("resumes from the controller's last stored seq after a cut right after an event was stored", async () => {
    const { controlPlane, endpoint, proxy } = await setUp();
    const credential = await enrolled(endpoint, controlPlane, "pod-dup");
    // The cut happens right after event 300 is stored, before its ack leaves: the agent learns
    // from Welcome.last_agent_seq what was stored and resends only the rest.
    let received = 0;
    controlPlane.addListener({
      event: () => {
        received += 1;
        if (received === 300) proxy.cutAll();
      },
    });
    const finished = waitFor<JobResult>(
      (resolve) => controlPlane.addListener({ jobFinished: (_a, r) => resolve(r) }),
      "the job to finish",
    );
    const connected = waitFor<void>(
      (resolve) => controlPlane.addListener({ sessionChanged: (_a, up) => up && resolve() }),
      "a session",
    );
    // Events come a few at a time (the agent batches what is waiting), so the cut falls mid-job
    // rather than after one batch that holds the whole job.
    startAgent({
      endpoint,
      credential,
      executor: chattyExecutor({ events: 1000, yieldEvery: 10, pauseMs: 1 }),
    });
    await connected;
    await controlPlane.assignJob(credential.agentId, create(EvaluationJobSchema, { jobId: "job-dup" }));
    await finished;
    const seqs = controlPlane.events(credential.agentId).map((e) => Number(e.seq));
    expect(seqs).toEqual(Array.from({ length: 1001 }, (_, i) => i + 1));
    expect(controlPlane.stats.eventsStored).toBe(1001);
    expect(controlPlane.stats.sessionsOpened).toBeGreaterThanOrEqual(2);
  }, 30_000);

  it("cancels a running job: the executor sees the abort and the agent reports the job failed", async () => {
    const { controlPlane, endpoint } = await setUp();
    const credential = await enrolled(endpoint, controlPlane, "pod-cancel");
    let sawAbort = "";
    const executor: JobExecutor = (_job, { signal }) =>
      new Promise((_resolve, reject) => {
        signal.addEventListener("abort", () => {
          sawAbort = String((signal.reason as Error).message);
          reject(signal.reason);
        });
      });
    const failed = waitFor<string>(
      (resolve) => controlPlane.addListener({ jobFailed: (_a, f) => resolve(f.reason) }),
      "the job to fail",
    );
    const connected = waitFor<void>(
      (resolve) => controlPlane.addListener({ sessionChanged: (_a, up) => up && resolve() }),
      "a session",
    );
    startAgent({ endpoint, credential, executor });
    await connected;
    await controlPlane.assignJob(credential.agentId, create(EvaluationJobSchema, { jobId: "job-c" }));
    await new Promise((r) => setTimeout(r, 50));
    controlPlane.cancelJob("job-c", "round aborted");
    expect(await failed).toMatch(/cancelled by the controller: round aborted/);
    expect(sawAbort).toMatch(/round aborted/);
  }, 20_000);

  it("declares a silent agent lost after the deadline and hands its job back", async () => {
    const { controlPlane, endpoint, proxy } = await setUp({
      heartbeatIntervalMs: 50,
      heartbeatDeadlineMs: 300,
    });
    const credential = await enrolled(endpoint, controlPlane, "pod-lost");
    const connected = waitFor<void>(
      (resolve) => controlPlane.addListener({ sessionChanged: (_a, up) => up && resolve() }),
      "a session",
    );
    const agent = startAgent({
      endpoint,
      credential,
      executor: () => new Promise<JobResult>(() => {}),
    });
    await connected;
    await controlPlane.assignJob(credential.agentId, create(EvaluationJobSchema, { jobId: "job-l" }));
    const lost = waitFor<string[]>(
      (resolve) => controlPlane.addListener({ agentLost: (_a, jobs) => resolve(jobs) }),
      "the agent to be declared lost",
    );
    // The pod vanishes: the agent stops and the connection is cut.
    agent.stop.abort();
    proxy.cutAll();
    expect(await lost).toEqual(["job-l"]);
    expect(controlPlane.connectedAgents()).toEqual([]);
  }, 20_000);

  it("stops retrying and says why when the controller refuses the credential", async () => {
    const { endpoint } = await setUp();
    const stop = new AbortController();
    const attempt = runAgentSession({
      endpoint,
      credential: {
        agentId: "agent-x",
        sessionCredential: "cps_forgedforgedforgedforgedforgedforgedforged",
        heartbeatIntervalMs: 100,
        heartbeatDeadlineMs: 1000,
      },
      executor: chattyExecutor({ events: 1 }),
      signal: stop.signal,
      backoff: fast,
    });
    await expect(attempt).rejects.toMatchObject({
      code: "permission-denied",
      message: /unknown session credential/,
    });
  });
});
