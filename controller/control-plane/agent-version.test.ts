import { afterEach, describe, expect, it } from "vitest";
import { runAgentSession } from "../../agent/session/agent-session.ts";
import { agentVersion } from "../../agent/session/agent-version.ts";
import { enrolWithController } from "../../agent/session/controller-client.ts";
import { agentVersionProblem } from "./agent-version-problem.ts";
import { ControlPlane } from "./control-plane.ts";
import { startControlPlaneServer } from "./control-plane-server.ts";
import { SqliteControlPlaneStore } from "./control-plane-store.ts";

describe("agentVersionProblem", () => {
  it.each([
    ["0.2.0", "0.2.0", undefined],
    ["0.2.1+g1a2b3c", "0.2.0", undefined],
    ["anything", "", undefined],
    ["", "", undefined],
    ["0.1.9", "0.2.0", /below the minimum 0\.2\.0.*update the agent/],
    ["0.2.0-rc.1", "0.2.0", /below the minimum/],
    ["", "0.2.0", /"" is not a version/],
    ["test", "0.2.0", /"test" is not a version/],
  ])("%j under minimum %j", (version, minimum, problem) => {
    const found = agentVersionProblem(version, minimum);
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toMatch(problem);
  });
});

describe("the controller's minimum agent version, over loopback gRPC", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function controller(minAgentVersion: string) {
    const store = new SqliteControlPlaneStore();
    const controlPlane = new ControlPlane({
      store,
      minAgentVersion,
      heartbeatIntervalMs: 200,
      heartbeatDeadlineMs: 2000,
    });
    const server = await startControlPlaneServer({ controlPlane });
    cleanups.push(
      () => store.close(),
      () => server.close(),
    );
    return { controlPlane, endpoint: { url: `http://127.0.0.1:${server.port}` } };
  }

  it("refuses to enrol an older agent without spending its token, then enrols it once updated", async () => {
    const { controlPlane, endpoint } = await controller("9.0.0");
    const { token } = controlPlane.mintEnrolmentToken("pod-old", 60_000);
    await expect(
      enrolWithController({ endpoint, token, podId: "pod-old", agentVersion: "8.9.9" }),
    ).rejects.toMatchObject({
      code: "failed-precondition",
      message: expect.stringMatching(/agent version 8\.9\.9 is below the minimum 9\.0\.0/),
    });
    const credential = await enrolWithController({
      endpoint,
      token,
      podId: "pod-old",
      agentVersion: "9.0.0+gabc",
    });
    expect(credential.agentId).not.toBe("");
  });

  it("ends the session of an agent that enrolled and came back older, and the agent stops retrying", async () => {
    const { controlPlane, endpoint } = await controller(agentVersion);
    const { token } = controlPlane.mintEnrolmentToken("pod-a", 60_000);
    const credential = await enrolWithController({ endpoint, token, podId: "pod-a" });
    const stop = new AbortController();
    cleanups.push(() => stop.abort());
    const refused = await runAgentSession({
      endpoint,
      credential,
      agentVersion: "0.0.1",
      signal: stop.signal,
      executor: async (job) => {
        throw new Error(`no job expected, got ${job.jobId}`);
      },
      backoff: { initialDelayMs: 1, maxDelayMs: 5, jitter: 0 },
    }).catch((error: unknown) => error);
    expect(refused).toMatchObject({
      code: "failed-precondition",
      message: expect.stringMatching(/agent version 0\.0\.1 is below the minimum/),
    });
    expect(controlPlane.connectedAgents()).toEqual([]);
    // The same agent at the build's own version is accepted.
    const running = runAgentSession({
      endpoint,
      credential,
      signal: stop.signal,
      executor: async () => {
        throw new Error("unused");
      },
    });
    await expect
      .poll(() => controlPlane.connectedAgents().map((a) => a.agentVersion))
      .toEqual([agentVersion]);
    stop.abort();
    await running.catch(() => {});
  });
});
