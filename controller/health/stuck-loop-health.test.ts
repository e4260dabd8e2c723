// /healthz over real HTTP while the controller's two loops run for real (serveLoop): the round
// loop on local simulated pods, the weight loop against a chain whose set_weights never
// completes (an extrinsic that is never included), the stand-in for a chain a test cannot hang.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { localFolderSink } from "../publish/artefact-sink.ts";
import { serveLoop } from "../rounds/controller-cycle.ts";
import { createLocalJobRunner } from "../rounds/job-runner.ts";
import { simulatedPod } from "../rounds/simulated-pod.ts";
import { fileChain, writeFileChain } from "../rounds/testing/file-chain.ts";
import { scenarioCommitments, scenarioSettings, scenarioSimImages } from "../rounds/testing/sim-scenario.ts";
import { defaultScoringPolicy } from "../scoring/scoring-policy.ts";
import { openStore } from "../store/controller-store.ts";
import { startWebServer } from "../web/web-server.ts";
import { defaultWeightPolicy } from "../weights/weight-policy.ts";
import type { WeightTarget } from "../weights/weight-setter.ts";
import type { HealthReport } from "./health-report.ts";
import { LoopMonitor } from "./loop-monitor.ts";

describe("/healthz with the serve loops", () => {
  it("turns 503 naming the weight loop when set_weights hangs, while rounds go on", async () => {
    const dir = mkdtempSync(join(tmpdir(), "stuck-weights-"));
    const chain = fileChain(writeFileChain(dir, scenarioCommitments));
    const store = openStore({ path: join(dir, "c.db") });
    let submissions = 0;
    const hanging: WeightTarget = {
      ...chain.target,
      setWeights: (_uids, _weights, signal) =>
        new Promise((_resolve, reject) => {
          submissions += 1;
          signal?.addEventListener("abort", () => reject(new CacheonError("cancelled", "stopped")), {
            once: true,
          });
        }),
    };
    const monitor = new LoopMonitor();
    const stop = new AbortController();
    const loop = serveLoop(
      {
        store,
        runner: createLocalJobRunner({
          pods: {
            a: simulatedPod("a", { images: scenarioSimImages }),
            b: simulatedPod("b", { images: scenarioSimImages }),
          },
        }),
        settings: scenarioSettings,
        policy: defaultScoringPolicy,
        finalizedHead: chain.finalizedHead,
        pollMs: 5,
        source: chain.source,
        sink: localFolderSink(join(dir, "published")),
        weightTarget: hanging,
        weightPolicy: defaultWeightPolicy,
        cadence: { refreshBlocks: 100_000, rateLimitBlocks: 0, inFlightBlocks: 2 },
        intervalMs: 20,
        weightIntervalMs: 10,
        loops: {
          rounds: monitor.register("rounds", { stuckAfterMs: 60_000 }),
          weights: monitor.register("weights", { stuckAfterMs: 500 }),
        },
      },
      stop.signal,
    );
    const web = await startWebServer({ store, listen: "127.0.0.1:0", loops: () => monitor.statuses() });
    try {
      let response: Response | undefined;
      let report: HealthReport | undefined;
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        response = await fetch(`${web.url}/healthz`);
        report = (await response.json()) as HealthReport;
        const roundPasses = report.loops.find((l) => l.name === "rounds")?.passes ?? 0;
        if (response.status === 503 && roundPasses > 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(response?.status).toBe(503);
      expect(report?.stuck).toEqual(["weights"]);
      const byName = Object.fromEntries((report?.loops ?? []).map((l) => [l.name, l]));
      // The weight pass is still under way (hung in set_weights), never succeeded, stuck past 500 ms.
      expect(byName.weights).toMatchObject({ stuck: true, lastSuccessMs: 0, stuckAfterMs: 500 });
      expect(byName.weights?.passStartedMs).toBeGreaterThan(0);
      expect(byName.weights?.stuckForMs).toBeGreaterThan(500);
      expect(submissions).toBe(1);
      // The round loop went on: a round settled, and that loop is healthy.
      expect(store.rounds.list()[0]?.state).toBe("settled");
      expect(byName.rounds).toMatchObject({ stuck: false });
      expect(byName.rounds?.passes).toBeGreaterThan(0);
    } finally {
      stop.abort();
      await loop;
      await web.close();
      store.close();
    }
  }, 60_000);
});
