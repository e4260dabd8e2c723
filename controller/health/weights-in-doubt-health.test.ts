// The weight loop as /healthz sees it when its extrinsic never settles: every pass ends (the
// submitter has a deadline), but a pass that leaves the weights in doubt is no success, so the
// loop turns stuck with the reason as its last error, and nothing is sent twice meanwhile.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ExtrinsicInDoubt } from "../chain/extrinsic-submitter.ts";
import { localFolderSink } from "../publish/artefact-sink.ts";
import { serveLoop } from "../rounds/controller-cycle.ts";
import { createLocalJobRunner } from "../rounds/job-runner.ts";
import { fileChain, writeFileChain } from "../rounds/testing/file-chain.ts";
import { scenarioCommitments, scenarioSettings } from "../rounds/testing/sim-scenario.ts";
import { defaultScoringPolicy } from "../scoring/scoring-policy.ts";
import { openStore } from "../store/controller-store.ts";
import { defaultWeightPolicy } from "../weights/weight-policy.ts";
import type { WeightTarget } from "../weights/weight-setter.ts";
import { LoopMonitor } from "./loop-monitor.ts";

describe("the weight loop's health while its extrinsic is in doubt", () => {
  it("ends every pass, sends once, and turns stuck naming the extrinsic", async () => {
    const dir = mkdtempSync(join(tmpdir(), "doubt-weights-"));
    const chain = fileChain(writeFileChain(dir, scenarioCommitments));
    const store = openStore({ path: join(dir, "c.db") });
    let sent = 0;
    const sentExtrinsic = { hash: "0xabc", signer: "v", nonce: 1, birthBlock: 1, validUntil: 1_000_000 };
    const doubtful: WeightTarget = {
      ...chain.target,
      setWeights: async (_uids, _weights, _signal, _intent, onSigned) => {
        sent += 1;
        onSigned?.(sentExtrinsic);
        throw new ExtrinsicInDoubt(
          "deadline-exceeded",
          sentExtrinsic,
          "Ready",
          "was not final within 180000 ms",
        );
      },
      extrinsicFate: async () => ({ state: "pending", reason: "0xabc may land until block 1000000" }),
    };
    const monitor = new LoopMonitor();
    const weights = monitor.register("weights", { stuckAfterMs: 300 });
    const stop = new AbortController();
    const loop = serveLoop(
      {
        store,
        runner: createLocalJobRunner({ pods: {} }),
        settings: scenarioSettings,
        policy: defaultScoringPolicy,
        finalizedHead: chain.finalizedHead,
        source: { snapshot: async () => ({ block: 1, entries: [] }) },
        sink: localFolderSink(join(dir, "published")),
        weightTarget: doubtful,
        weightPolicy: defaultWeightPolicy,
        intervalMs: 60_000,
        weightIntervalMs: 10,
        loops: { weights },
      },
      stop.signal,
    );
    try {
      const deadline = Date.now() + 20_000;
      let status = monitor.statuses().find((l) => l.name === "weights");
      while (Date.now() < deadline && !(status?.stuck && (status.passes ?? 0) > 5)) {
        await new Promise((r) => setTimeout(r, 50));
        status = monitor.statuses().find((l) => l.name === "weights");
      }
      expect(status).toMatchObject({ stuck: true, lastSuccessMs: 0, passStartedMs: 0 });
      expect(status?.lastError).toMatch(/weights waiting: 0xabc may land until block 1000000/);
      expect(sent).toBe(1);
    } finally {
      stop.abort();
      await loop;
      store.close();
    }
  }, 30_000);
});
