import { describe, expect, it } from "vitest";
import { ingestCommitments } from "../intake/ingest-commitments.ts";
import type { PodDirectory } from "../pods/pod-identity.ts";
import type { MinerReport } from "../publish/miner-report.ts";
import { defaultScoringPolicy } from "../scoring/scoring-policy.ts";
import type { Standing } from "../scoring/settle-standing.ts";
import { type ControllerStore, openStore } from "../store/controller-store.ts";
import { isIndependent } from "./is-independent.ts";
import { createLocalJobRunner } from "./job-runner.ts";
import { type RoundEngineOptions, type RoundStep, runRound } from "./run-round.ts";
import { type SimulatedPodOptions, simulatedPod } from "./simulated-pod.ts";
import {
  fakeDigest,
  scenarioCommitments,
  scenarioRef,
  scenarioSettings,
  scenarioSimImages,
  scenarioVerdicts,
} from "./testing/sim-scenario.ts";

const simImages = scenarioSimImages;
const ref = scenarioRef;
const settings = scenarioSettings;

function engine(
  store: ControllerStore,
  pods: Record<string, SimulatedPodOptions>,
  extra: Partial<RoundEngineOptions> = {},
) {
  const steps: RoundStep[] = [];
  const runner = createLocalJobRunner({
    pods: Object.fromEntries(Object.entries(pods).map(([name, o]) => [name, simulatedPod(name, o)])),
  });
  const options: RoundEngineOptions = {
    store,
    runner,
    settings,
    policy: defaultScoringPolicy,
    finalizedHead: async () => ({ block: 100, hash: `0x${"ab".repeat(32)}` }),
    pollMs: 5,
    onStep: (s) => steps.push(s),
    ...extra,
  };
  return { options, steps };
}

function commit(store: ControllerStore, block: number, entries: [string, number, string, number][]) {
  return ingestCommitments({
    store,
    snapshot: {
      block,
      entries: entries.map(([hotkey, uid, raw, commitBlock]) => ({ hotkey, uid, raw, commitBlock })),
    },
  });
}

const verdicts = (store: ControllerStore, roundId: string) =>
  Object.fromEntries(store.verdicts.list({ roundId }).map((v) => [v.hotkey, v.verdict]));

describe("runRound", () => {
  it("crowns the fastest correct, zeroes the wrong, disqualifies copies and pays only after reproduction", async () => {
    const store = openStore({ path: ":memory:" });
    ingestCommitments({ store, snapshot: { block: 50, entries: scenarioCommitments } });
    const { options, steps } = engine(store, {
      "pod-a": { images: simImages },
      "pod-b": { images: simImages },
    });
    const round = await runRound(options, new AbortController().signal);
    expect(round?.state).toBe("settled");
    const standing = round?.standingAfter as Standing;
    expect(standing.leader?.hotkey).toBe("carol");
    expect(standing.runnerUp?.hotkey).toBe("bob");
    expect(verdicts(store, round?.id ?? "")).toEqual(scenarioVerdicts);
    // Every paid seat was measured twice, the second time on the other pod with another seed.
    const jobs = store.jobs.list(round?.id ?? "");
    const repro = jobs.filter((j) => j.phase === "reproduce");
    expect(repro.length).toBeGreaterThan(0);
    for (const j of repro) {
      expect(j.excludedPods).toHaveLength(1);
      expect(j.podId).not.toBe(j.excludedPods[0]);
      expect(j.seed).not.toBe(round?.seed);
    }
    expect(steps.map((s) => s.kind)).toContain("reproduction-planned");
    expect(steps.at(-1)?.kind).toBe("round-settled");
    // Progress: every planned job ended by settlement; reproduction added jobs on the way.
    expect(steps.at(-1)?.jobsDone).toBe(steps.at(-1)?.jobsTotal);
    expect(steps[0]).toMatchObject({ kind: "round-created", jobsDone: 0, jobsTotal: 2 });
    expect(steps.at(-1)?.jobsTotal).toBeGreaterThan(2);
    const frank = store.submissions.get("sub-5");
    expect(frank).toMatchObject({ state: "copy", copyOf: "sub-2" });
    const erinReport = store.minerReports.list({ hotkey: "erin" })[0]?.report as MinerReport;
    expect(erinReport.reason).toMatch(/correctness gate failed/);
    expect(erinReport.nextSteps.join(" ")).toMatch(/cacheon-miner evaluate --image REF@DIGEST/);
    const ginaReport = store.minerReports.list({ hotkey: "gina" })[0]?.report as MinerReport;
    expect(ginaReport.nextSteps.join(" ")).toMatch(/health within the start-up timeout/);
    expect((store.minerReports.list({ hotkey: "carol" })[0]?.report as MinerReport | undefined)?.rank).toBe(
      1,
    );
    expect(store.submissions.list({ states: ["pending"] })).toEqual([]);

    // Next round: the leader's image plus one small layer is a copy; nothing pending means no round.
    ingestCommitments({
      store,
      snapshot: {
        block: 60,
        entries: [...scenarioCommitments, { hotkey: "hank", uid: 7, raw: ref("plusLayer"), commitBlock: 55 }],
      },
    });
    const second = await runRound(options, new AbortController().signal);
    expect(verdicts(store, second?.id ?? "")).toEqual({ hank: "copy" });
    expect(store.submissions.get("sub-7")?.reason).toMatch(/leader's image plus 1 small layer/);
    expect(((second?.standingAfter ?? {}) as Standing).leader?.hotkey).toBe("carol");
    expect(await runRound(options, new AbortController().signal)).toBeUndefined();
  });

  it("with one pod a win cannot be reproduced, so nobody is paid and it stays pending", async () => {
    const store = openStore({ path: ":memory:" });
    commit(store, 50, [["bob", 1, ref("fast"), 10]]);
    const { options } = engine(store, { solo: { images: simImages } });
    const round = await runRound(options, new AbortController().signal);
    expect(((round?.standingAfter ?? {}) as Standing).leader).toBeUndefined();
    expect(verdicts(store, round?.id ?? "")).toEqual({ bob: "awaiting-reproduction" });
    expect(store.submissions.get("sub-1")?.state).toBe("pending");
    const abandoned = store.jobs.list(round?.id ?? "").find((j) => j.phase === "reproduce");
    expect(abandoned?.state).toBe("abandoned");
    expect(abandoned?.reason).toMatch(/no pod other than solo/);
  });

  it("a failing pod's jobs are retried elsewhere, a bounded number of times", async () => {
    const store = openStore({ path: ":memory:" });
    commit(store, 50, [["bob", 1, ref("fast"), 10]]);
    const { options } = engine(store, {
      broken: { images: simImages, fail: "nvidia-smi reports an uncorrectable ECC error" },
      good: { images: simImages },
      good2: { images: simImages },
    });
    const round = await runRound(options, new AbortController().signal);
    const jobs = store.jobs.list(round?.id ?? "");
    const first = jobs.filter((j) => j.slot === "e0");
    expect(first[0]).toMatchObject({ podId: "broken", state: "failed" });
    expect(first[0]?.reason).toMatch(/pod broken: nvidia-smi reports an uncorrectable ECC error/);
    expect(first[1]).toMatchObject({ podId: "good", state: "done", excludedPods: ["broken"] });
    const repro = jobs.filter((j) => j.slot === "r0");
    expect(repro.map((j) => [j.podId, j.state])).toEqual([
      ["broken", "failed"],
      ["good2", "done"],
    ]);
    expect(verdicts(store, round?.id ?? "")).toEqual({ bob: "leader" });

    const store2 = openStore({ path: ":memory:" });
    commit(store2, 50, [["bob", 1, ref("fast"), 10]]);
    const all = engine(store2, {
      x: { images: simImages, fail: "gone" },
      y: { images: simImages, fail: "gone" },
    });
    const r2 = await runRound(
      { ...all.options, settings: { ...settings, maxAttempts: 2 } },
      new AbortController().signal,
    );
    const attempts = store2.jobs.list(r2?.id ?? "");
    expect(attempts).toHaveLength(2);
    expect(attempts[1]?.state).toBe("abandoned");
    expect(attempts[1]?.reason).toMatch(/gave up after 2 failed attempts/);
    expect(verdicts(store2, r2?.id ?? "")).toEqual({ bob: "no-result" });
    expect(store2.submissions.get("sub-1")?.state).toBe("pending");
  });

  it("a drifting pod gives no decision and the job is rerun on a steady one", async () => {
    const store = openStore({ path: ":memory:" });
    commit(store, 50, [["bob", 1, ref("fast"), 10]]);
    const { options } = engine(store, {
      drifty: { images: simImages, drift: 0.2 },
      steady: { images: simImages },
    });
    const round = await runRound(options, new AbortController().signal);
    const jobs = store.jobs.list(round?.id ?? "");
    const drifted = jobs.filter((j) => j.podId === "drifty");
    for (const j of drifted) expect(j.decision).toBe("no-decision");
    expect(jobs.filter((j) => j.decision === "decided").every((j) => j.podId === "steady")).toBe(true);
    expect(drifted.length).toBeGreaterThan(0);
  });

  it("a round never waits forever: the deadline settles it with what it has", async () => {
    const store = openStore({ path: ":memory:" });
    commit(store, 50, [["bob", 1, ref("fast"), 10]]);
    const { options } = engine(store, { stuck: { images: simImages, hang: true } });
    const round = await runRound(
      { ...options, settings: { ...settings, roundTimeoutMs: 150 } },
      new AbortController().signal,
    );
    expect(round?.state).toBe("settled");
    expect(verdicts(store, round?.id ?? "")).toEqual({ bob: "no-result" });
    expect(store.jobs.list(round?.id ?? "")[0]?.state).toBe("abandoned");
  });

  it("the seed comes from the finalized block hash and the validator secret", async () => {
    const store = openStore({ path: ":memory:" });
    commit(store, 50, [["bob", 1, ref("fast"), 10]]);
    const { options } = engine(store, { a: { images: simImages }, b: { images: simImages } });
    const round = await runRound(
      { ...options, settings: { ...settings, validatorSecret: "s3cret" } },
      new AbortController().signal,
    );
    const { roundSeed } = await import("./round-seed.ts");
    expect(round?.seed).toBe(roundSeed(`0x${"ab".repeat(32)}`, "s3cret"));
    expect(round?.seed).not.toBe(roundSeed(`0x${"ab".repeat(32)}`));
    expect(round?.block).toBe(100);
  });
  it("a leader whose image can no longer be pulled loses the seat after failing on two pods", async () => {
    const store = openStore({ path: ":memory:" });
    ingestCommitments({ store, snapshot: { block: 50, entries: scenarioCommitments } });
    const { options } = engine(store, { "pod-a": { images: simImages }, "pod-b": { images: simImages } });
    const first = await runRound(options, new AbortController().signal);
    expect(((first?.standingAfter ?? {}) as Standing).leader?.hotkey).toBe("carol");
    ingestCommitments({
      store,
      snapshot: {
        block: 70,
        entries: [
          ...scenarioCommitments,
          { hotkey: "hank", uid: 7, raw: `127.0.0.1:5000/miner/hank:v1@${fakeDigest("8")}`, commitBlock: 65 },
        ],
      },
    });
    // carol's image ("faster") is gone from the registry: every pull of it fails.
    const gone = Object.fromEntries(
      Object.entries(simImages).filter(([digest]) => digest !== fakeDigest("2")),
    );
    const next = engine(store, {
      "pod-a": { images: gone },
      "pod-b": { images: gone },
      "pod-c": { images: gone },
    });
    const round = await runRound(next.options, new AbortController().signal);
    const v = Object.fromEntries(store.verdicts.list({ roundId: round?.id ?? "" }).map((x) => [x.hotkey, x]));
    expect(v.carol?.verdict).toBe("failed");
    expect(v.carol?.reason).toMatch(/the leader failed its gate on [23] pods.*pull-failed/);
    // The leader's failure did not void hank's measurement beside it: hank's own image cannot
    // be pulled either, and that is hank's failure.
    expect(v.hank?.verdict).toBe("failed");
    expect(v.hank?.reason).toMatch(/pull-failed/);
    const standing = (round?.standingAfter ?? {}) as Standing;
    expect(standing.leader?.hotkey).toBe("bob");
    expect(standing.runnerUp).toBeUndefined();
    expect(store.submissions.get("sub-2")?.state).toBe("failed");
  });

  it("a leader failing on one pod keeps the challengers' measurements there and its seat when it passes elsewhere", async () => {
    const store = openStore({ path: ":memory:" });
    ingestCommitments({ store, snapshot: { block: 50, entries: scenarioCommitments } });
    const { options } = engine(store, { "pod-a": { images: simImages }, "pod-b": { images: simImages } });
    await runRound(options, new AbortController().signal);
    const hank = fakeDigest("8");
    ingestCommitments({
      store,
      snapshot: {
        block: 70,
        entries: [
          ...scenarioCommitments,
          { hotkey: "hank", uid: 7, raw: `127.0.0.1:5000/miner/hank:v1@${hank}`, commitBlock: 65 },
        ],
      },
    });
    // pod-a cannot pull carol's image (the leader's); pod-b can.
    const images = { ...simImages, [hank]: { speed: 1.2 } };
    const partial = Object.fromEntries(
      Object.entries(images).filter(([digest]) => digest !== fakeDigest("2")),
    );
    const next = engine(store, { "pod-a": { images: partial }, "pod-b": { images } });
    const round = await runRound(next.options, new AbortController().signal);
    const jobs = store.jobs.list(round?.id ?? "");
    expect(jobs.map((j) => [j.slot, j.attempt, j.podId, j.state])).toEqual([
      ["e0", 0, "pod-a", "done"],
      ["s0", 0, "pod-b", "done"],
    ]);
    // hank was judged on pod-a, where the leader's seat was empty: against the runner-up there.
    const v = store.verdicts.list({ roundId: round?.id ?? "" });
    expect(v.map((x) => [x.hotkey, x.verdict])).toEqual([["hank", "below-bar"]]);
    const standing = (round?.standingAfter ?? {}) as Standing;
    expect([standing.leader?.hotkey, standing.runnerUp?.hotkey]).toEqual(["carol", "bob"]);
    expect(store.submissions.get("sub-2")?.state).toBe("evaluated");
  });

  it("a reproduction on the same host as the first measurement is refused; another host reproduces and pays", async () => {
    // a and b are two pods on one machine (10.0.0.1); c is another machine.
    const sameHost: PodDirectory = {
      providers: 1,
      identity: (podId) => ({
        podId,
        provider: "local",
        host: podId === "c" ? "10.0.0.2" : "10.0.0.1",
        gpuUuids: [`GPU-${podId}`],
      }),
    };
    const round = async (store: ControllerStore, names: string[]) => {
      const runner = createLocalJobRunner({
        pods: Object.fromEntries(names.map((n) => [n, simulatedPod(n, { images: simImages })])),
        independent: isIndependent,
        directory: sameHost,
      });
      const { options } = engine(store, {});
      return runRound({ ...options, runner, pods: sameHost }, new AbortController().signal);
    };
    const store = openStore({ path: ":memory:" });
    commit(store, 50, [["bob", 1, ref("fast"), 10]]);
    const r1 = await round(store, ["a", "b", "c"]);
    const jobs = store.jobs.list(r1?.id ?? "");
    expect(jobs.map((j) => [j.slot, j.podId, j.state])).toEqual([
      ["e0", "a", "done"],
      ["r0", "c", "done"],
    ]);
    expect(jobs[1]?.independentOf).toEqual(["a"]);
    expect(verdicts(store, r1?.id ?? "")).toEqual({ bob: "leader" });

    // Only a and b: the reproduction has nowhere to go, and nobody is paid on one machine's word.
    const alone = openStore({ path: ":memory:" });
    commit(alone, 50, [["bob", 1, ref("fast"), 10]]);
    const r2 = await round(alone, ["a", "b"]);
    const repro = alone.jobs.list(r2?.id ?? "").find((j) => j.slot === "r0");
    expect(repro).toMatchObject({ state: "abandoned", podId: null });
    expect(repro?.reason).toMatch(/no pod other than a is available \(another host and GPUs are required\)/);
    expect(verdicts(alone, r2?.id ?? "")).toEqual({ bob: "awaiting-reproduction" });
    expect(((r2?.standingAfter ?? {}) as Standing).leader).toBeUndefined();
  });

  describe("a challenger inside the noise band", () => {
    // 2% faster than the baseline. A pod drifting 4.5% between its bookends (inside the 5% limit)
    // sets the bar near 3% (drift residual), so 2% lands inside the band; on a steady pod the bar
    // is the 1% moat and 2% clears it. A low CV keeps the ratio well away from both edges.
    const marginal = fakeDigest("9");
    const images = { ...simImages, [marginal]: { speed: 1.02 } };
    const drifty: SimulatedPodOptions = { images, drift: 0.045, cv: 0.001 };
    const steady: SimulatedPodOptions = { images, cv: 0.001 };
    const ivy = (store: ControllerStore) =>
      commit(store, 50, [["ivy", 1, `127.0.0.1:5000/miner/ivy:v1@${marginal}`, 10]]);

    it("is measured again on another pod with a derived seed and crowned when that clears the bar", async () => {
      const store = openStore({ path: ":memory:" });
      ivy(store);
      const { options, steps } = engine(store, { drifty, "steady-a": steady, "steady-b": steady });
      const round = await runRound(options, new AbortController().signal);
      const jobs = store.jobs.list(round?.id ?? "");
      const first = jobs.find((j) => j.slot === "e0");
      const again = jobs.find((j) => j.slot === "m0");
      expect(first).toMatchObject({ podId: "drifty", state: "done", decision: "decided" });
      expect(again).toMatchObject({ phase: "evaluate", state: "done", excludedPods: ["drifty"] });
      expect(again?.podId).not.toBe("drifty");
      expect(again?.seed).not.toBe(round?.seed);
      // The re-measurement carries the bookends like any job; only the challenger is scored.
      if (!again) throw new Error("no re-measurement job m0");
      const roles = (again.score as { arms: { role: string }[] }).arms.map((a) => a.role);
      expect(roles).toEqual(["challenger"]);
      expect((again.job as { arms: { role: string }[] }).arms.map((a) => a.role)).toEqual([
        "ARM_ROLE_OPENING_BASELINE",
        "ARM_ROLE_CHALLENGER",
        "ARM_ROLE_CLOSING_BASELINE",
      ]);
      expect(steps.map((x) => x.kind)).toContain("remeasurement-planned");
      expect(verdicts(store, round?.id ?? "")).toEqual({ ivy: "leader" });
      expect(((round?.standingAfter ?? {}) as Standing).leader?.hotkey).toBe("ivy");
      expect(jobs.some((j) => j.phase === "reproduce" && j.state === "done")).toBe(true);
    });

    it("settles below the bar after maxRemeasurements re-measurements that stay inside the band", async () => {
      const store = openStore({ path: ":memory:" });
      ivy(store);
      const { options } = engine(store, { "drifty-a": drifty, "drifty-b": drifty, "drifty-c": drifty });
      const round = await runRound(options, new AbortController().signal);
      const jobs = store.jobs.list(round?.id ?? "");
      expect(jobs.map((j) => j.slot)).toEqual(["e0", "m0", "m1"]);
      expect(new Set(jobs.map((j) => j.seed)).size).toBe(3);
      for (const [a, b] of [
        [jobs[0], jobs[1]],
        [jobs[1], jobs[2]],
      ])
        expect(b?.podId).not.toBe(a?.podId);
      const v = store.verdicts.list({ roundId: round?.id ?? "" })[0];
      expect(v?.verdict).toBe("below-bar");
      expect(v?.reason).toMatch(/still inside the noise band after 2 re-measurements/);
      expect(store.submissions.get("sub-1")?.state).toBe("evaluated");
      expect(((round?.standingAfter ?? {}) as Standing).leader).toBeUndefined();

      // 0 restores the old reading: below the bar after the one job.
      const off = openStore({ path: ":memory:" });
      ivy(off);
      const once = engine(off, { "drifty-a": drifty, "drifty-b": drifty });
      const r0 = await runRound(
        { ...once.options, policy: { ...defaultScoringPolicy, maxRemeasurements: 0 } },
        new AbortController().signal,
      );
      expect(off.jobs.list(r0?.id ?? "").map((j) => j.slot)).toEqual(["e0"]);
      expect(verdicts(off, r0?.id ?? "")).toEqual({ ivy: "below-bar" });
    });

    it("with no other pod the re-measurement is given up and the challenger waits for the next round", async () => {
      const store = openStore({ path: ":memory:" });
      ivy(store);
      const { options } = engine(store, { solo: drifty });
      const round = await runRound(options, new AbortController().signal);
      const jobs = store.jobs.list(round?.id ?? "");
      // Each owed re-measurement is planned once and given up at once: bounded by the limit.
      expect(jobs.map((j) => [j.slot, j.state])).toEqual([
        ["e0", "done"],
        ["m0", "abandoned"],
        ["m1", "abandoned"],
      ]);
      expect(jobs[1]?.reason).toMatch(/no pod other than solo/);
      expect(verdicts(store, round?.id ?? "")).toEqual({ ivy: "no-result" });
      expect(store.submissions.get("sub-1")?.state).toBe("pending");
    });
  });
});
