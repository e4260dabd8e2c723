import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type ArtefactSink, localFolderSink } from "../publish/artefact-sink.ts";
import { defaultScoringPolicy } from "../scoring/scoring-policy.ts";
import { type ControllerStore, openStore } from "../store/controller-store.ts";
import { defaultWeightPolicy } from "../weights/weight-policy.ts";
import { type ControllerCycleOptions, runControllerCycle, serveLoop } from "./controller-cycle.ts";
import { createLocalJobRunner } from "./job-runner.ts";
import { simulatedPod } from "./simulated-pod.ts";
import { fileChain, writeFileChain } from "./testing/file-chain.ts";
import { scenarioCommitments, scenarioSettings, scenarioSimImages } from "./testing/sim-scenario.ts";

describe("serveLoop", () => {
  it("sets weights while a long round runs, settles the round, and stops on abort", async () => {
    const dir = mkdtempSync(join(tmpdir(), "serve-loop-"));
    writeFileChain(dir, scenarioCommitments);
    const chain = fileChain(join(dir, "chain.json"));
    const store = openStore({ path: join(dir, "c.db") });
    const stop = new AbortController();
    const seen: { openRound: boolean; weights: string }[] = [];
    const slow = (name: string) => simulatedPod(name, { images: scenarioSimImages, armDelayMs: 40 });
    let rounds = 0;
    const loop = serveLoop(
      {
        store,
        runner: createLocalJobRunner({ pods: { a: slow("a"), b: slow("b") } }),
        settings: scenarioSettings,
        policy: defaultScoringPolicy,
        finalizedHead: chain.finalizedHead,
        pollMs: 5,
        source: chain.source,
        sink: localFolderSink(join(dir, "published")),
        weightTarget: chain.target,
        weightPolicy: defaultWeightPolicy,
        cadence: { refreshBlocks: 100_000, rateLimitBlocks: 0, inFlightBlocks: 2 },
        intervalMs: 20,
        weightIntervalMs: 10,
        onWeights: (r) =>
          seen.push({ openRound: store.rounds.open() !== undefined, weights: r?.action ?? "error" }),
        onCycle: (r) => {
          if (r?.round) rounds += 1;
          if (rounds > 0 && chain.read().accepted.length >= 2) stop.abort();
        },
      },
      stop.signal,
    );
    const guard = setTimeout(() => stop.abort(), 60_000);
    await loop;
    clearTimeout(guard);
    // The fallback went out while the first round was still running; 80/20 after it settled.
    expect(seen.some((s) => s.openRound && s.weights !== "error")).toBe(true);
    expect(chain.read().accepted.map((a) => a.uids)).toEqual([[0], [1, 2]]);
    expect(store.rounds.list()[0]?.state).toBe("settled");
    expect(seen.filter((s) => s.weights === "error")).toEqual([]);
    store.close();
  }, 90_000);
});

/** One cycle's options over the file chain, two simulated pods and `sink`. */
function cycleOptions(
  store: ControllerStore,
  chain: ReturnType<typeof fileChain>,
  sink: ArtefactSink,
): ControllerCycleOptions {
  return {
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
    source: chain.source,
    sink,
    weightTarget: chain.target,
    weightPolicy: defaultWeightPolicy,
    cadence: { refreshBlocks: 100_000, rateLimitBlocks: 0, inFlightBlocks: 2 },
  };
}

describe("runControllerCycle", () => {
  it("a publication failure does not hold the round up; the next pass publishes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cycle-"));
    const chain = fileChain(writeFileChain(dir, scenarioCommitments));
    const store = openStore({ path: join(dir, "c.db") });
    let broken = true;
    const folder = localFolderSink(join(dir, "published"));
    const sink = {
      put: async (key: string, body: string | Uint8Array, type: string) => {
        if (broken) throw new Error("storage unavailable");
        await folder.put(key, body, type);
      },
      locate: folder.locate,
    };
    const options = cycleOptions(store, chain, sink);
    const first = await runControllerCycle(options, new AbortController().signal);
    expect(first.round?.state).toBe("settled");
    expect(first.published).toEqual([]);
    expect(first.weights.action).toBe("set");
    broken = false;
    const second = await runControllerCycle(options, new AbortController().signal);
    expect(second.published).toEqual([first.round?.id]);
    expect(store.rounds.get(first.round?.id ?? "")?.publishLocation).toMatch(/^file:\/\//);
    store.close();
  });

  it("publishes the leaderboard as soon as intake changes it, before the round, and not when nothing changed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cycle-"));
    const chain = fileChain(writeFileChain(dir, scenarioCommitments));
    const store = openStore({ path: join(dir, "c.db") });
    const folder = localFolderSink(join(dir, "published"));
    const puts: { key: string; body: string }[] = [];
    const sink = {
      put: async (key: string, body: string | Uint8Array, type: string) => {
        puts.push({ key, body: String(body) });
        await folder.put(key, body, type);
      },
      locate: folder.locate,
    };
    const options = cycleOptions(store, chain, sink);
    await runControllerCycle(options, new AbortController().signal);
    const first = puts.findIndex((p) => p.key === "leaderboard.json");
    expect(first).toBeGreaterThanOrEqual(0);
    expect(puts.slice(0, first).some((p) => p.key.startsWith("rounds/"))).toBe(false);
    const early = JSON.parse(puts[first]?.body ?? "{}") as { miners: { state: string; verdict: string }[] };
    expect(early.miners.length).toBeGreaterThan(0);
    expect(early.miners.every((m) => m.state === "pending" && m.verdict === "waiting for a round")).toBe(
      true,
    );
    const after = puts.length;
    await runControllerCycle(options, new AbortController().signal);
    expect(puts.slice(after).map((p) => p.key)).toEqual([]);
    store.close();
  });
});
