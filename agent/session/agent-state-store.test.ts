import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ControlPlane } from "../../controller/control-plane/control-plane.ts";
import { startControlPlaneServer } from "../../controller/control-plane/control-plane-server.ts";
import { SqliteControlPlaneStore } from "../../controller/control-plane/control-plane-store.ts";
import { JobProgressSchema } from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import { EvaluationJobSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import type { JobResult } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { runAgentSession } from "./agent-session.ts";
import { AgentStateStore } from "./agent-state-store.ts";
import { enrolWithController } from "./controller-client.ts";
import { EventOutbox } from "./event-outbox.ts";
import { startTcpProxy } from "./testing/tcp-proxy.ts";

const dir = mkdtempSync(join(tmpdir(), "cacheon-agent-state-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const progress = (jobId: string, done: number) =>
  ({ case: "progress", value: create(JobProgressSchema, { jobId, phase: "measure", done }) }) as const;

describe("AgentStateStore", () => {
  it("keeps unacknowledged events, their sequence, the controller's seq, the job and the images across a reopen", () => {
    const path = join(dir, "a", "agent-state.db");
    const first = AgentStateStore.open(path);
    const outbox = new EventOutbox({ store: first });
    for (let i = 1; i <= 5; i++) outbox.add(progress("j1", i));
    outbox.ack(3);
    first.setLastControllerSeq(7);
    first.setRunningJob({ jobId: "j1", startedAtMs: 1000 });
    first.imagePulled("sha256:aa", "j1");
    first.imagePulled("sha256:bb", "j1");
    first.imageRemoved("sha256:aa");
    first.close(); // as a killed process leaves it: every write above was committed

    const again = AgentStateStore.open(path);
    const resumed = new EventOutbox({ store: again });
    expect(resumed.size).toBe(2);
    expect(resumed.after(0)?.seq).toBe(4n);
    expect(resumed.nextSeq).toBe(6);
    expect(resumed.add(progress("j1", 6)).seq).toBe(6n);
    expect(again.lastControllerSeq()).toBe(7);
    expect(again.runningJob()).toEqual({ jobId: "j1", startedAtMs: 1000 });
    expect(again.pulledImages()).toEqual(["sha256:bb"]);
    // Everything acknowledged: the sequence still goes on from where it was.
    resumed.ack(6);
    again.close();
    expect(new EventOutbox({ store: AgentStateStore.open(path) }).nextSeq).toBe(7);
  });

  it("says what to do when the state cannot be opened", () => {
    const file = join(dir, "a-file");
    writeFileSync(file, "not a directory");
    expect(() => AgentStateStore.open(join(file, "state", "agent-state.db"))).toThrow(
      /cannot open the agent's state .*check the directory is writable/,
    );
  });
});

describe("a restarted agent on a real control plane", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it("resends what it had not delivered, continues the sequence, and reports the interrupted job failed", async () => {
    const store = new SqliteControlPlaneStore();
    const controlPlane = new ControlPlane({ store, heartbeatIntervalMs: 200, heartbeatDeadlineMs: 2000 });
    const server = await startControlPlaneServer({ controlPlane });
    cleanups.push(
      () => store.close(),
      () => server.close(),
    );
    const endpoint = { url: `http://127.0.0.1:${server.port}` };
    const { token } = controlPlane.mintEnrolmentToken("pod-r", 60_000);
    const credential = await enrolWithController({ endpoint, token, podId: "pod-r" });
    const statePath = join(dir, "r", "agent-state.db");
    const fast = { initialDelayMs: 1, maxDelayMs: 5, jitter: 0 };

    // First life, through a proxy: a job runs and streams 40 events, all delivered.
    const proxy = await startTcpProxy(server.port);
    const first = AgentStateStore.open(statePath);
    const stopFirst = new AbortController();
    const firstRun = runAgentSession({
      endpoint: { url: `http://127.0.0.1:${proxy.port}` },
      credential,
      state: first,
      signal: stopFirst.signal,
      backoff: fast,
      executor: (job, { emit, signal }) => {
        for (let i = 1; i <= 40; i++) emit(progress(job.jobId, i));
        return new Promise<JobResult>((_resolve, reject) =>
          signal.addEventListener("abort", () => reject(signal.reason)),
        );
      },
    });
    cleanups.push(async () => {
      stopFirst.abort();
      await firstRun.catch(() => {});
    });
    await expect.poll(() => controlPlane.connectedAgents().length).toBe(1);
    await controlPlane.assignJob(credential.agentId, create(EvaluationJobSchema, { jobId: "job-r1" }));
    await expect.poll(() => controlPlane.events(credential.agentId).length, { timeout: 10_000 }).toBe(40);
    // The process dies: its connection goes and it never comes back (its loop is left behind the
    // closed proxy). Before dying it had written two more events the controller never got.
    const closed = proxy.close(); // stops accepting at once; resolves when the cut connections end
    proxy.cutAll();
    await closed;
    const last = new EventOutbox({ store: first });
    last.add(progress("job-r1", 41));
    last.add(progress("job-r1", 42));
    expect(first.runningJob()?.jobId).toBe("job-r1");

    // Second life, from the same file.
    const failed = new Promise<{ jobId: string; reason: string; retryable: boolean }>((resolve) =>
      controlPlane.addListener({
        jobFailed: (_a, f) => f.jobId === "job-r1" && f.reason.includes("restarted") && resolve(f),
      }),
    );
    const second = AgentStateStore.open(statePath);
    const stopSecond = new AbortController();
    const secondRun = runAgentSession({
      endpoint,
      credential,
      state: second,
      signal: stopSecond.signal,
      backoff: fast,
      executor: async () => ({}) as JobResult,
    });
    cleanups.push(async () => {
      stopSecond.abort();
      await secondRun.catch(() => {});
      second.close();
    });
    const failure = await failed;
    expect(failure.retryable).toBe(true);
    expect(failure.reason).toMatch(/the agent restarted while running the job .*no arm is to blame/);
    const stored = controlPlane.events(credential.agentId);
    // Every event once, in order, none dropped as a duplicate of an earlier life's seq.
    expect(stored.map((e) => Number(e.seq))).toEqual(Array.from({ length: stored.length }, (_, i) => i + 1));
    const done = stored
      .filter((e) => e.payload.case === "progress")
      .map((e) => (e.payload.value as { done: number }).done);
    expect(done.slice(0, 42)).toEqual(Array.from({ length: 42 }, (_, i) => i + 1));
    expect(
      stored.some((e) => e.payload.case === "jobFailed" && e.payload.value.reason.includes("restarted")),
    ).toBe(true);
    expect(second.runningJob()).toBeUndefined();
  }, 30_000);
});
