// A control plane started again on the same store file and port, as after a controller crash:
// jobs the rounds no longer want are cancelled on their agents, jobs still wanted stay with the
// agents that come back, an agent that never comes back is declared lost and its job handed back,
// and a job that finished while nobody listened is answered from the store.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { runAgentSession } from "../../agent/session/agent-session.ts";
import { enrolWithController } from "../../agent/session/controller-client.ts";
import type { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { EvaluationJobSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { JobResultSchema } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { ControlPlane } from "./control-plane.ts";
import { startControlPlaneServer } from "./control-plane-server.ts";
import { SqliteControlPlaneStore } from "./control-plane-store.ts";

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

async function start(path: string, port = 0) {
  const store = new SqliteControlPlaneStore({ path });
  const controlPlane = new ControlPlane({ store, heartbeatIntervalMs: 100, heartbeatDeadlineMs: 800 });
  const server = await startControlPlaneServer({ controlPlane, port });
  const events: string[] = [];
  controlPlane.addListener({
    agentLost: (agentId, jobIds) => events.push(`lost ${agentId} ${jobIds.join(",")}`),
    jobsReturned: (_agentId, jobIds) => events.push(`returned ${jobIds.join(",")}`),
  });
  return { store, controlPlane, server, events };
}

describe("a control plane restarted on its store", () => {
  it("cancels unwanted jobs, keeps wanted ones, declares an agent that never returns lost, and answers a finished job from the store", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "cp-restart-")), "controller.db");
    const first = await start(path);
    const url = first.server.url;
    const outcomes: Record<string, string> = {};
    const stops: AbortController[] = [];
    const agents: Record<string, string> = {};
    for (const pod of ["keep", "drop", "dead", "done"]) {
      const { token } = first.controlPlane.mintEnrolmentToken(pod, 60_000);
      const credential = await enrolWithController({
        endpoint: { url },
        token,
        podId: pod,
        agentVersion: "t",
      });
      agents[pod] = credential.agentId;
      const stop = new AbortController();
      stops.push(stop);
      cleanups.push(() => stop.abort());
      void runAgentSession({
        endpoint: { url },
        credential,
        signal: stop.signal,
        backoff: { initialDelayMs: 1, maxDelayMs: 20, jitter: 0.5 },
        executor: (job, context) =>
          new Promise((resolve, reject) => {
            if (pod === "done") {
              resolve(create(JobResultSchema, { jobId: job.jobId }));
              return;
            }
            context.signal.addEventListener("abort", () => {
              outcomes[job.jobId] = "cancelled on the agent";
              reject(context.signal.reason as CacheonError);
            });
          }),
      }).catch(() => {});
    }
    await waitFor("four agents", () => first.controlPlane.connectedAgents().length === 4);
    for (const pod of ["keep", "drop", "dead"])
      await first.controlPlane.assignJob(
        agents[pod] ?? "",
        create(EvaluationJobSchema, { jobId: `job-${pod}` }),
      );
    await waitFor("the jobs to be acknowledged", () =>
      first.controlPlane.connectedAgents().every((a) => a.podId === "done" || a.openJobIds.length === 1),
    );

    // The crash: the server goes; the "dead" pod's agent dies with it; "done" finishes its job
    // after the restart, before anybody waits for it.
    stops[2]?.abort();
    await first.server.close();
    first.store.close();
    const second = await start(path, Number(new URL(url).port));
    cleanups.push(
      () => second.server.close(),
      () => second.store.close(),
    );
    expect(second.controlPlane.cancelUnwantedJobs((id) => id !== "job-drop", "not wanted")).toEqual([
      "job-drop",
    ]);
    second.controlPlane.watchAgentsWithOpenJobs();
    await waitFor("the agent of pod done to come back", () =>
      second.controlPlane.connectedAgents().some((a) => a.podId === "done"),
    );
    await second.controlPlane.assignJob(
      agents.done ?? "",
      create(EvaluationJobSchema, { jobId: "job-done" }),
    );

    await waitFor("the unwanted job cancelled on its agent", () => outcomes["job-drop"] !== undefined);
    expect(outcomes["job-keep"]).toBeUndefined();
    expect(second.controlPlane.jobOutcome("job-drop")).toMatchObject({ state: "cancelled", podId: "drop" });
    expect(second.controlPlane.jobOutcome("job-keep")).toMatchObject({ state: "assigned", podId: "keep" });
    await waitFor("the dead agent declared lost", () => second.events.some((e) => e.startsWith("lost")));
    expect(second.events).toEqual([`lost ${agents.dead} job-dead`, "returned job-dead"]);
    expect(second.controlPlane.jobOutcome("job-dead")).toMatchObject({ state: "lost" });
    await waitFor(
      "the done job finished",
      () => second.controlPlane.jobOutcome("job-done")?.state === "finished",
    );
    const done = second.controlPlane.jobOutcome("job-done");
    expect(done?.state === "finished" && done.result.jobId).toBe("job-done");
    expect(second.controlPlane.jobOutcome("never-sent")).toBeUndefined();
  }, 60_000);
});
