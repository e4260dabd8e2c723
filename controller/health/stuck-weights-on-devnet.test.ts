// /healthz over real HTTP while both serve loops run, the weight loop against the devnet whose
// transaction pool accepts every set_weights and never includes it (the `hang` fault: a chain
// that stalls or a node that sits on the extrinsic). Each weight pass ends at its submit deadline
// with the weights in doubt, so the loop never succeeds and turns /healthz 503 naming it, while
// the round loop settles a round and stays healthy, and no weights ever land on chain.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiPromise, Keyring, WsProvider } from "@polkadot/api";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { afterEach, describe, expect, it } from "vitest";
import { startDevnet } from "../../devnet/devnet.ts";
import { ChainClient } from "../chain/chain-client.ts";
import { localFolderSink } from "../publish/artefact-sink.ts";
import { serveLoop } from "../rounds/controller-cycle.ts";
import { createLocalJobRunner } from "../rounds/job-runner.ts";
import { simulatedPod } from "../rounds/simulated-pod.ts";
import { fileChain, writeFileChain } from "../rounds/testing/file-chain.ts";
import { scenarioCommitments, scenarioSettings, scenarioSimImages } from "../rounds/testing/sim-scenario.ts";
import { defaultScoringPolicy } from "../scoring/scoring-policy.ts";
import { openStore } from "../store/controller-store.ts";
import { startWebServer } from "../web/web-server.ts";
import { chainWeightTarget } from "../weights/chain-weight-target.ts";
import { defaultWeightPolicy } from "../weights/weight-policy.ts";
import type { HealthReport } from "./health-report.ts";
import { LoopMonitor } from "./loop-monitor.ts";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("/healthz with a weight loop the chain never answers", () => {
  it("turns 503 naming the weight loop while rounds go on, and no weights land", async () => {
    await cryptoWaitReady();
    const alice = new Keyring({ type: "sr25519", ss58Format: 42 }).addFromUri("//Alice");
    const devnet = await startDevnet({
      port: 0,
      blockTimeSeconds: 0.1,
      seed: {
        subnets: [
          {
            netuid: 1,
            weightsSetRateLimit: 0,
            neurons: [{ hotkey: "//Alice", validatorPermit: true }, { hotkey: "//Bob" }],
          },
        ],
      },
    });
    cleanups.push(() => devnet.close());
    const client = await ChainClient.connect({ endpoints: [devnet.url], rounds: 1 });
    cleanups.push(() => client.close());
    const api = await ApiPromise.create({ provider: new WsProvider(devnet.url), noInitWarn: true });
    cleanups.push(() => api.disconnect());
    // Every set_weights of Alice's is taken into the pool and never included.
    devnet.chain.injectFault({
      kind: "hang",
      call: "subtensorModule.setWeights",
      signer: alice.address,
      times: 1_000,
    });

    const dir = mkdtempSync(join(tmpdir(), "stuck-weights-devnet-"));
    const files = fileChain(writeFileChain(dir, scenarioCommitments));
    const store = openStore({ path: join(dir, "c.db") });
    cleanups.push(() => store.close());
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
        finalizedHead: files.finalizedHead,
        pollMs: 5,
        source: files.source,
        sink: localFolderSink(join(dir, "published")),
        weightTarget: chainWeightTarget({
          client,
          netuid: 1,
          signer: alice,
          commits: store.weightCommits,
          submit: { deadlineMs: 500, mortalBlocks: 64 },
        }),
        weightPolicy: defaultWeightPolicy,
        cadence: { refreshBlocks: 1, rateLimitBlocks: 0, inFlightBlocks: 64 },
        intervalMs: 20,
        weightIntervalMs: 50,
        loops: {
          rounds: monitor.register("rounds", { stuckAfterMs: 60_000 }),
          weights: monitor.register("weights", { stuckAfterMs: 1_000 }),
        },
      },
      stop.signal,
    );
    cleanups.push(async () => {
      stop.abort();
      await loop;
    });
    const web = await startWebServer({ store, listen: "127.0.0.1:0", loops: () => monitor.statuses() });
    cleanups.push(() => web.close());

    // Waits until the weight loop has ended passes (each in doubt) and is stuck, and a round settled.
    let response: Response | undefined;
    let report: HealthReport | undefined;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      response = await fetch(`${web.url}/healthz`);
      report = (await response.json()) as HealthReport;
      const weights = report.loops.find((l) => l.name === "weights");
      const settled = store.rounds.list()[0]?.state === "settled";
      if (response.status === 503 && settled && (weights?.failures ?? 0) >= 2) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(response?.status).toBe(503);
    expect(report?.stuck).toEqual(["weights"]);
    const byName = Object.fromEntries((report?.loops ?? []).map((l) => [l.name, l]));
    // Passes end (the submitter has a deadline) but none succeeds: the loop is stuck, the reason named.
    expect(byName.weights).toMatchObject({ stuck: true, lastSuccessMs: 0, stuckAfterMs: 1_000 });
    expect(byName.weights?.failures).toBeGreaterThanOrEqual(2);
    expect(byName.weights?.lastError).toMatch(/weights (waiting|failed)|in doubt/);
    expect(byName.weights?.stuckForMs).toBeGreaterThan(1_000);
    // The round loop went on: a round settled, and that loop is healthy.
    expect(store.rounds.list()[0]?.state).toBe("settled");
    expect(byName.rounds).toMatchObject({ stuck: false });
    // The extrinsic is what hangs: it sits in the node's pool, and the chain never took the weights.
    const pending = await api.rpc.author.pendingExtrinsics();
    expect(
      pending.some((x) => x.method.section === "subtensorModule" && x.method.method === "setWeights"),
    ).toBe(true);
    expect((await api.query.subtensorModule?.weights?.(1, 0))?.toJSON() ?? []).toEqual([]);
  }, 120_000);
});
