// A controller killed (SIGKILL) while its pod runs a job, and started again on the same store:
// it adopts the running pod (no second rental, no machine returned or leaked), the agent comes
// back to it, and the job finishes once: run once by the agent, recorded once by the round.
// The job ends at each of the two moments that matter, each forced by a gate the test opens:
// while no controller runs (the agent comes back holding only the job's unacknowledged outcome)
// and after the agent is back with the new controller. Real processes: the controller
// (production wiring, startRemoteAgents), the fake cloud's machines, gRPC on loopback, one
// SQLite store file.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { createFakeCloud } from "../../test/pods/fake-cloud.ts";
import { eventsPathFor } from "../control-plane/control-plane-config.ts";
import { SqliteControlPlaneStore } from "../control-plane/control-plane-store.ts";
import { SqliteEventLog } from "../control-plane/event-log.ts";
import { ingestCommitments } from "../intake/ingest-commitments.ts";
import { openSqlitePodLedger } from "../pods/pod-ledger.ts";
import { simulatedPod } from "../rounds/simulated-pod.ts";
import { scenarioRef, scenarioSimImages } from "../rounds/testing/sim-scenario.ts";
import { openStore } from "../store/controller-store.ts";
import { bootCloudAgents } from "./testing/cloud-agents.ts";

const child = join(import.meta.dirname, "testing", "fleet-controller-child.ts");
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Controller {
  proc: ChildProcess;
  lines: string[];
  stderr: () => string;
  exited: Promise<number | null>;
  /** Resolves when a stdout line matches. */
  line(pattern: RegExp, ms?: number): Promise<string>;
}

function startController(storePath: string, port: number, cloudDir: string): Controller {
  const proc = spawn(process.execPath, [child, storePath, String(port)], {
    env: { ...process.env, FAKE_CLOUD_DIR: cloudDir },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (l: string) => void }[] = [];
  let stderr = "";
  proc.stderr?.on("data", (b) => {
    stderr += String(b);
  });
  createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on("line", (l) => {
    lines.push(l);
    for (const w of waiters.filter((w) => w.pattern.test(l))) w.resolve(l);
  });
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  cleanups.push(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  });
  return {
    proc,
    lines,
    stderr: () => stderr,
    exited,
    line(pattern, ms = 60_000) {
      const seen = lines.find((l) => pattern.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `no line ${pattern} within ${ms} ms; stdout:\n${lines.join("\n")}\nstderr:\n${stderr}`,
              ),
            ),
          ms,
        );
        waiters.push({
          pattern,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
      });
    },
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === "object" && address ? address.port : 0;
}

const waitFor = async (what: string, check: () => boolean, ms = 30_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

describe("a controller restarted while its pod runs a job", () => {
  it.each([
    ["while no controller runs", "down"],
    ["after the agent is back", "back"],
  ] as const)(
    "adopts the running pod and the job finishes once, ending %s",
    async (_when, ends) => {
      const dir = mkdtempSync(join(tmpdir(), "controller-restart-"));
      const storePath = join(dir, "controller.db");
      const seed = openStore({ path: storePath });
      ingestCommitments({
        store: seed,
        snapshot: {
          block: 50,
          entries: [{ hotkey: "dave", uid: 3, raw: scenarioRef("slow"), commitBlock: 12 }],
        },
      });
      seed.close();
      const cloud = createFakeCloud();
      cleanups.push(() => cloud.dispose());
      const port = await freePort();

      // The agents outlive the controller. Each job waits at a gate the test opens, so the first
      // controller is killed while the job is surely running.
      const runs: string[] = [];
      const ended: string[] = [];
      let open: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      const agents = bootCloudAgents({
        cloudDir: cloud.dir,
        url: `http://127.0.0.1:${port}`,
        executor: (podId) => {
          const sim = simulatedPod(podId, { images: scenarioSimImages });
          return async (job, context) => {
            runs.push(job.jobId);
            await gate;
            try {
              return await sim(job, context);
            } finally {
              ended.push(job.jobId);
            }
          };
        },
      });
      cleanups.push(() => agents.stop());

      const first = startController(storePath, port, cloud.dir);
      // Generous: under load, spawning the controller and renting, booting and verifying the pod
      // take a while; this waits for liveness, it bounds no measurement.
      await waitFor("the job to run on the pod's agent", () => runs.length === 1, 90_000);
      const [pod = ""] = agents.pods();
      first.proc.kill("SIGKILL");
      await first.exited;
      expect(cloud.machines().map((m) => m.podId)).toEqual([pod]);
      const sessionsBefore = agents.sessions(pod);

      if (ends === "down") {
        open();
        await waitFor("the job to end on the agent", () => ended.length === 1);
      }
      const second = startController(storePath, port, cloud.dir);
      if (ends === "back") {
        await waitFor(
          "the agent to open a session with the new controller",
          () => agents.sessions(pod) > sessionsBefore,
          90_000,
        );
        open();
      }
      await second.line(/^DONE$/, 90_000);
      await second.line(/^CLOSED$/);
      expect(await second.exited).toBe(0);

      // The agent ran the job once, and the round recorded it once: one attempt, done.
      expect(runs).toEqual([runs[0]]);
      const store = openStore({ path: storePath, readOnly: true });
      const round = store.rounds.list()[0];
      expect(round?.state).toBe("settled");
      const jobs = store.jobs.list(round?.id ?? "");
      expect(jobs.map((j) => [j.id, j.state, j.podId])).toEqual([[runs[0], "done", pod]]);
      expect(store.verdicts.list({ roundId: round?.id })).toMatchObject([
        { hotkey: "dave", verdict: "below-bar" },
      ]);
      store.close();
      // One pod rented in all, adopted (never released before the end), its machine returned.
      const ledger = openSqlitePodLedger(storePath);
      expect(ledger.list().map((r) => r.podId)).toEqual([pod]);
      const moves = ledger.transitions(pod).map((t) => t.to);
      expect(moves).toEqual(["booting", "enrolled", "verified", "busy", "idle", "released"]);
      ledger.close();
      expect(cloud.machines()).toEqual([]);
      // The result event was stored once, in the agents' event log beside the store.
      const cp = new SqliteControlPlaneStore({ path: storePath });
      const agent = cp.latestAgentOfPod(pod);
      cp.close();
      const events = new SqliteEventLog({ path: eventsPathFor(storePath, "") });
      expect(
        events.events(agent?.agentId ?? "", runs[0]).filter((e) => e.kind === "jobFinished"),
      ).toHaveLength(1);
      events.close();
    },
    300_000,
  );
});
