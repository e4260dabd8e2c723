import { type CommitmentEntry, ingestCommitments } from "../../intake/ingest-commitments.ts";
import { defaultScoringPolicy } from "../../scoring/scoring-policy.ts";
import type { ControllerStore } from "../../store/controller-store.ts";
import type { RoundRow } from "../../store/round-table.ts";
import { createLocalJobRunner } from "../job-runner.ts";
import { defaultRoundSettings, type RoundSettings } from "../round-settings.ts";
import { runRound } from "../run-round.ts";
import type { SimulatedImage } from "../simulated-pod.ts";
import { simulatedPod } from "../simulated-pod.ts";

/** A 64-hex digest made of one repeated character (readable fixtures). */
export const fakeDigest = (c: string) => `sha256:${c.repeat(64).slice(0, 64)}`;
const registry = "127.0.0.1:5000";

/**
 * The sim images of the standard scenario, by name: the baseline, correct servers of several
 * speeds, a fast wrong one, a re-tagged copy of "faster", "faster" plus a small layer, and one
 * that never becomes ready. Same names as the sim-llm image catalogue where they exist.
 */
export const scenarioImages: Record<string, { digest: string; sim: SimulatedImage }> = {
  baseline: {
    digest: fakeDigest("0"),
    sim: { speed: 1, configDigest: fakeDigest("a0"), layers: [fakeDigest("10")] },
  },
  fast: {
    digest: fakeDigest("1"),
    sim: {
      speed: 1.5,
      configDigest: fakeDigest("a1"),
      layers: [fakeDigest("10"), fakeDigest("11")],
      sizeBytes: 1000,
    },
  },
  faster: {
    digest: fakeDigest("2"),
    sim: {
      speed: 1.8,
      configDigest: fakeDigest("a2"),
      layers: [fakeDigest("10"), fakeDigest("12")],
      sizeBytes: 1000,
    },
  },
  slow: {
    digest: fakeDigest("3"),
    sim: { speed: 0.8, configDigest: fakeDigest("a3"), layers: [fakeDigest("10"), fakeDigest("13")] },
  },
  wrong: {
    digest: fakeDigest("4"),
    sim: {
      speed: 2.5,
      correct: false,
      configDigest: fakeDigest("a4"),
      layers: [fakeDigest("10"), fakeDigest("14")],
    },
  },
  retagged: {
    digest: fakeDigest("5"),
    sim: { speed: 1.8, configDigest: fakeDigest("a2"), layers: [fakeDigest("10"), fakeDigest("12")] },
  },
  plusLayer: {
    digest: fakeDigest("6"),
    sim: {
      speed: 1.81,
      configDigest: fakeDigest("a6"),
      layers: [fakeDigest("10"), fakeDigest("12"), fakeDigest("16")],
      sizeBytes: 2000,
    },
  },
  neverReady: { digest: fakeDigest("7"), sim: { speed: 3, outcome: "never-ready" } },
};

/** Simulated behaviour by digest, as simulatedPod takes it. */
export const scenarioSimImages = Object.fromEntries(
  Object.values(scenarioImages).map((i) => [i.digest, i.sim]),
);

/** A miner's commitment text for a scenario image. */
export const scenarioRef = (name: string) =>
  `${registry}/miner/${name.toLowerCase()}:v1@${scenarioImages[name]?.digest}`;

/** The standard round: six miners (uids 1-6) committing in this order. */
export const scenarioCommitments: CommitmentEntry[] = [
  { hotkey: "bob", uid: 1, raw: scenarioRef("fast"), commitBlock: 10 },
  { hotkey: "carol", uid: 2, raw: scenarioRef("faster"), commitBlock: 11 },
  { hotkey: "dave", uid: 3, raw: scenarioRef("slow"), commitBlock: 12 },
  { hotkey: "erin", uid: 4, raw: scenarioRef("wrong"), commitBlock: 13 },
  { hotkey: "frank", uid: 5, raw: scenarioRef("retagged"), commitBlock: 14 },
  { hotkey: "gina", uid: 6, raw: scenarioRef("neverReady"), commitBlock: 15 },
];

/** What the standard round must decide. */
export const scenarioVerdicts = {
  bob: "runner-up",
  carol: "leader",
  dave: "below-bar",
  erin: "failed",
  frank: "copy",
  gina: "failed",
};

/** Round settings for simulated pods. */
export const scenarioSettings: RoundSettings = {
  ...defaultRoundSettings,
  baselineImage: `${registry}/cacheon/baseline@${fakeDigest("0")}`,
  workload: {
    promptSource: "bundled:cacheon-chat-v1",
    requests: 10,
    warmupRequests: 2,
    maxTokens: 512,
    repetitions: 3,
  },
  hardwareProfile: "none",
  maxChallengersPerJob: 3,
};

/** Ingests the standard commitments (plus `extra`) and runs one round on two simulated pods. */
export async function runScenarioRound(
  store: ControllerStore,
  extra: CommitmentEntry[] = [],
): Promise<RoundRow | undefined> {
  ingestCommitments({ store, snapshot: { block: 50, entries: [...scenarioCommitments, ...extra] } });
  return runRound(
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
      finalizedHead: async () => ({ block: 60, hash: "0x0102" }),
    },
    new AbortController().signal,
  );
}
