import { afterEach, describe, expect, it } from "vitest";
import { runAgentSession } from "../../agent/session/agent-session.ts";
import { enrolWithController } from "../../agent/session/controller-client.ts";
import { ControlPlane } from "../control-plane/control-plane.ts";
import { startControlPlaneServer } from "../control-plane/control-plane-server.ts";
import { SqliteControlPlaneStore } from "../control-plane/control-plane-store.ts";
import { ingestCommitments } from "../intake/ingest-commitments.ts";
import { defaultScoringPolicy } from "../scoring/scoring-policy.ts";
import type { Standing } from "../scoring/settle-standing.ts";
import { openStore } from "../store/controller-store.ts";
import { createControlPlaneJobRunner, type JobDispatch } from "./control-plane-job-runner.ts";
import { runRound } from "./run-round.ts";
import { simulatedPod } from "./simulated-pod.ts";
import {
  scenarioCommitments,
  scenarioSettings,
  scenarioSimImages,
  scenarioVerdicts,
} from "./testing/sim-scenario.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("a round over remote agents through the real control plane (gRPC on loopback)", () => {
  it("runs every job on the agents and reaches the same verdicts; a lost pod's job is retried", async () => {
    const cpStore = new SqliteControlPlaneStore();
    const controlPlane = new ControlPlane({
      store: cpStore,
      heartbeatIntervalMs: 200,
      heartbeatDeadlineMs: 2000,
    });
    const server = await startControlPlaneServer({ controlPlane });
    cleanups.push(
      () => cpStore.close(),
      () => server.close(),
    );
    const dispatch: JobDispatch = controlPlane;
    const endpoint = { url: `http://127.0.0.1:${server.port}` };
    const executed: string[] = [];
    for (const pod of ["pod-flaky", "pod-a", "pod-b"]) {
      const { token } = controlPlane.mintEnrolmentToken(pod, 60_000);
      const credential = await enrolWithController({ endpoint, token, podId: pod, agentVersion: "test" });
      const sim = simulatedPod(
        pod,
        pod === "pod-flaky"
          ? { images: scenarioSimImages, fail: "docker daemon not answering" }
          : { images: scenarioSimImages },
      );
      const stop = new AbortController();
      const running = runAgentSession({
        endpoint,
        credential,
        signal: stop.signal,
        backoff: { initialDelayMs: 1, maxDelayMs: 5, jitter: 0.5 },
        executor: async (job, context) => {
          executed.push(`${pod}:${job.jobId}`);
          return sim(job, context);
        },
      });
      cleanups.push(async () => {
        stop.abort();
        await running.catch(() => {});
      });
    }
    const deadline = Date.now() + 20_000;
    while (controlPlane.connectedAgents().length < 3 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(controlPlane.connectedAgents()).toHaveLength(3);

    const runner = createControlPlaneJobRunner(dispatch);
    cleanups.push(() => runner.close());
    expect(runner.allPods().sort()).toEqual(["pod-a", "pod-b", "pod-flaky"]);
    const store = openStore({ path: ":memory:" });
    ingestCommitments({ store, snapshot: { block: 50, entries: scenarioCommitments } });
    const round = await runRound(
      {
        store,
        runner,
        settings: scenarioSettings,
        policy: defaultScoringPolicy,
        finalizedHead: async () => ({ block: 60, hash: "0x0606" }),
        pollMs: 10,
      },
      new AbortController().signal,
    );
    expect(
      Object.fromEntries(store.verdicts.list({ roundId: round?.id ?? "" }).map((v) => [v.hotkey, v.verdict])),
    ).toEqual(scenarioVerdicts);
    expect(((round?.standingAfter ?? {}) as Standing).leader?.hotkey).toBe("carol");
    const jobs = store.jobs.list(round?.id ?? "");
    // Every attempt went through an agent, and pod-flaky's failures were retried elsewhere.
    expect(executed.length).toBe(jobs.length);
    const flaky = jobs.filter((j) => j.podId === "pod-flaky");
    expect(flaky.length).toBeGreaterThan(0);
    for (const j of flaky) expect(j.reason).toMatch(/agent .*docker daemon not answering/);
    expect(jobs.filter((j) => j.state === "done").every((j) => j.podId !== "pod-flaky")).toBe(true);
  }, 60_000);
});
