import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { ApiPromise, Keyring, WsProvider } from "@polkadot/api";
import type { EventRecord } from "@polkadot/types/interfaces";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Devnet, startDevnet } from "../../devnet/devnet.ts";
import { replaceNeuronOperation } from "../../devnet/pallets/admin-operations.ts";
import { minerProgram } from "../../miner/cli/main.ts";
import { runCli } from "../../shared/cli/cli-command.ts";
import { ChainClient } from "../chain/chain-client.ts";
import { chainBlockSource, FeeLedger } from "../fees/fee-ledger.ts";
import { chainCommitmentSource } from "../intake/chain-commitment-source.ts";
import { localFolderSink } from "../publish/artefact-sink.ts";
import type { LeaderboardDocument } from "../publish/leaderboard-document.ts";
import { defaultScoringPolicy } from "../scoring/scoring-policy.ts";
import { type ControllerStore, openStore } from "../store/controller-store.ts";
import { controllerStatus } from "../web/controller-status.ts";
import { leaderboard } from "../web/leaderboard.ts";
import { chainWeightTarget } from "../weights/chain-weight-target.ts";
import { defaultWeightPolicy } from "../weights/weight-policy.ts";
import { setWeightsIfDue } from "../weights/weight-setter.ts";
import { type ControllerCycleOptions, runControllerCycle } from "./controller-cycle.ts";
import { createLocalJobRunner } from "./job-runner.ts";
import { simulatedPod } from "./simulated-pod.ts";
import { scenarioRef, scenarioSettings, scenarioSimImages } from "./testing/sim-scenario.ts";

// Issue 15's scenario on the devnet with commit-reveal on: miners commit drand-timelocked through
// cacheon-miner, paying the submission fee (one does not pay); nothing is evaluated while the
// commitments are sealed, and the published leaderboard says so; once the chain reveals them the
// controller refuses the unpaid one with its reason, runs a round on the others (simulated pods
// stand in for GPUs), commits its weights timelocked, is stopped between commit and reveal,
// resumes, and a plain @polkadot/api client reads 80/20 back, set once. Then the leader's uid is
// handed to a stranger: the next timelocked weights pay the runner-up alone, never the stranger.

const devPhrase = "bottom drive obey lake curtain smoke basket hold race lonely fit walk";
const netuid = 1;
let devnet: Devnet;
let client: ChainClient;
let api: ApiPromise;
let store: ControllerStore;
let fees: FeeLedger;
let dir: string;
const feeAccount = new Keyring({ type: "sr25519", ss58Format: 42 }).addFromUri("//Fees").address;

beforeAll(async () => {
  await cryptoWaitReady();
  devnet = await startDevnet({
    port: 0,
    blockTimeSeconds: 0.1,
    beacon: { periodSeconds: 1 },
    seed: {
      subnets: [
        {
          netuid,
          tempo: 20,
          weightsSetRateLimit: 0,
          commitRevealWeightsEnabled: true,
          neurons: [
            { hotkey: "//Alice", validatorPermit: true },
            { hotkey: "//Bob" },
            { hotkey: "//Charlie" },
            { hotkey: "//Dave" },
            { hotkey: "//Eve" },
          ],
        },
      ],
      accounts: { "//Fees": 1_000_000_000 },
    },
  });
  client = await ChainClient.connect({ endpoints: [devnet.url], rounds: 1 });
  api = await ApiPromise.create({ provider: new WsProvider(devnet.url), noInitWarn: true });
  dir = await mkdtemp(join(tmpdir(), "cacheon-timelocked-"));
  store = openStore({ path: join(dir, "controller.db") });
  fees = new FeeLedger({
    source: chainBlockSource(api),
    store,
    // A sealed remark is checked at the reveal: allow however long the reveal takes on a busy machine.
    policy: { amount: 100_000_000n, destination: feeAccount, windowBlocks: 10, revealBlocks: 100_000 },
    netuid,
    startBlock: 1,
    blocksPerPass: 100_000,
  });
  const keyring = new Keyring({ type: "sr25519" });
  for (const name of ["Bob", "Charlie", "Dave", "Eve"]) {
    await mkdir(join(dir, "wallets", name, "hotkeys"), { recursive: true });
    const uri = `${devPhrase}//${name}`;
    await writeFile(
      join(dir, "wallets", name, "hotkeys", "default"),
      JSON.stringify({ secretPhrase: uri, ss58Address: keyring.addFromUri(uri).address }),
    );
  }
});

afterAll(async () => {
  store?.close();
  await api?.disconnect();
  await client?.close();
  await devnet?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

// A failed case must not leave the beacon paused for the next.
afterEach(() => devnet?.chain.beacon.resume());

async function minerCommit(
  wallet: string,
  image: string,
  revealIn: number,
  paying = true,
): Promise<{ code: number; out: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  stdout.on("data", (d) => (out += String(d)));
  stderr.on("data", (d) => (out += String(d)));
  const argv = [
    "commit",
    "--image",
    image,
    "--wallet",
    wallet,
    "--hotkey",
    "default",
    "--wallet-path",
    join(dir, "wallets"),
  ];
  argv.push(
    "--network",
    devnet.url,
    "--netuid",
    String(netuid),
    "--reveal-in",
    String(revealIn),
    "--block-time",
    "0.1",
    "--json",
  );
  if (paying) argv.push("--fee", "--fee-to", feeAccount);
  const code = await runCli({
    ...minerProgram,
    argv,
    io: { stdout, stderr, env: {}, signal: new AbortController().signal },
  });
  return { code, out };
}

const cycleOptions = (): ControllerCycleOptions => ({
  store,
  runner: createLocalJobRunner({
    pods: {
      a: simulatedPod("a", { images: scenarioSimImages }),
      b: simulatedPod("b", { images: scenarioSimImages }),
    },
  }),
  settings: scenarioSettings,
  policy: defaultScoringPolicy,
  finalizedHead: async () => {
    const head = await client.finalizedHead();
    return { block: head.number, hash: head.hash };
  },
  source: chainCommitmentSource({ client, netuid }),
  fees,
  sink: localFolderSink(join(dir, "published")),
  weightTarget: chainWeightTarget({
    client,
    netuid,
    signer: new Keyring({ type: "sr25519" }).addFromUri("//Alice"),
    commits: store.weightCommits,
    beacon: devnet.chain.beacon.info,
    blockSeconds: 0.1,
  }),
  weightPolicy: defaultWeightPolicy,
  cadence: { refreshBlocks: 100_000, rateLimitBlocks: 0, inFlightBlocks: 2 },
});

describe("a subnet with drand-timelocked commitments and CRv4 weights", () => {
  it("sealed commitments are shown as such and not evaluated; revealed ones are", async () => {
    // No pulses while we look at the sealed state, however slow the machine.
    devnet.chain.beacon.pause();
    for (const [wallet, image] of [
      ["Bob", scenarioRef("fast")],
      ["Charlie", scenarioRef("faster")],
      ["Dave", scenarioRef("slow")],
    ] as const) {
      const { code, out } = await minerCommit(wallet, image, 60);
      expect(code).toBe(0);
      const result = JSON.parse(out) as { timelocked?: boolean; fee?: { mode: string; remark: string } };
      expect(result.timelocked).toBe(true);
      // Transfer, sealed remark and commitment in one extrinsic; the remark does not show the digest.
      expect(result.fee?.mode).toBe("batch_all");
      expect(result.fee?.remark).toMatch(/:sealed:[0-9a-f]{64}$/);
      expect(result.fee?.remark).not.toContain(image.split("@sha256:")[1]);
    }
    // Eve commits without paying.
    const unpaid = await minerCommit("Eve", scenarioRef("wrong"), 60, false);
    expect(unpaid.code).toBe(0);
    expect(unpaid.out).not.toMatch(/"fee"/);
    // Nobody (the validator included) can read them yet.
    const sealed = await client.readSubmissions(netuid);
    expect(sealed.records).toEqual([]);
    expect(sealed.pending.map((p) => p.uid).sort()).toEqual([1, 2, 3, 4]);
    const early = await runControllerCycle(cycleOptions(), new AbortController().signal);
    expect(early.intake.pending).toEqual([]);
    expect(early.round).toBeUndefined();
    expect(controllerStatus(store).sealed).toHaveLength(4);
    expect(leaderboard(store).filter((r) => r.state === "sealed")).toHaveLength(4);
    // Where miners look: the published leaderboard, written at this intake (no round ran).
    const published = await publishedLeaderboard();
    expect(published.miners.map((m) => [m.uid, m.state]).sort()).toEqual([
      [1, "sealed"],
      [2, "sealed"],
      [3, "sealed"],
      [4, "sealed"],
    ]);
    expect(published.miners[0]?.verdict).toMatch(/^sealed until drand round \d+$/);
    expect(published.miners[0]?.nextSteps.join(" ")).toMatch(/timelocked/);
    devnet.chain.beacon.resume();

    // The chain reveals them once the beacon's round is out.
    for (;;) {
      const { records } = await client.readSubmissions(netuid);
      if (records.length === 4) {
        expect(records.every((r) => r.source === "revealed" && r.eventIndex !== undefined)).toBe(true);
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 60_000);

  it("runs a round on the revealed submissions and sets 80/20 through CRv4, once, across a stop between commit and reveal", async () => {
    const stop = new AbortController();
    const cycle = runControllerCycle(cycleOptions(), stop.signal);
    // Stop the controller as soon as its weights are committed (sealed, not yet revealed).
    for (;;) {
      if (store.weightCommits.list(lastIntent()).some((c) => c.state === "committed" && c.uids.length === 2))
        break;
      await new Promise((r) => setTimeout(r, 20));
    }
    // Hold the pulse back until the controller is stopped, so the stop lands between commit and reveal.
    devnet.chain.beacon.pause();
    stop.abort();
    await cycle.catch(() => undefined);
    devnet.chain.beacon.resume();
    expect(controllerStatus(store).sealed).toEqual([]);
    expect(store.rounds.list()[0]?.state).toBe("settled");

    // Eve's revealed commitment was refused for its fee, never evaluated, and she is told why.
    const eve = store.submissions.list({ hotkey: hotkeyOf("Eve") }).at(-1);
    expect(eve?.state).toBe("unpaid");
    expect(eve?.reason).toMatch(/^unpaid: no submission fee names hotkey \w+ and digest sha256:/);
    expect(store.verdicts.list({ submissionId: eve?.id ?? "" })).toEqual([]);
    const report = (await publishedLeaderboard()).miners.find((m) => m.hotkey === hotkeyOf("Eve"));
    expect(report).toMatchObject({ uid: 4, state: "unpaid", reason: eve?.reason, attempts: [] });
    expect(report?.nextSteps.join(" ")).toMatch(/cacheon-miner commit --fee/);
    // The paying miners were evaluated.
    for (const name of ["Bob", "Charlie", "Dave"])
      expect(store.submissions.list({ hotkey: hotkeyOf(name) }).at(-1)?.state).toBe("evaluated");

    // A new controller on the same store finishes the same commit.
    const done = await setWeightsIfDue({
      store,
      target: cycleOptions().weightTarget,
      policy: defaultWeightPolicy,
      cadence: { refreshBlocks: 100_000, rateLimitBlocks: 0, inFlightBlocks: 2 },
    });
    expect(done).toMatchObject({ action: "set", reason: expect.stringMatching(/resuming a commit-reveal/) });
    expect(await sharesOnChain()).toEqual({ 1: 20, 2: 80 });
    const commits = store.weightCommits.list(lastIntent());
    expect(commits.map((c) => c.state)).toEqual(["confirmed"]);
    expect(await timelockedCommitsOnChain()).toBe(commitsMadeSoFar());
  }, 90_000);

  it("a leader deregistered after the round is not paid: the next timelocked weights go to the runner-up alone", async () => {
    const stranger = new Keyring({ type: "sr25519", ss58Format: 42 }).addFromUri("//Stranger").address;
    await devnet.chain.scheduleAdmin(replaceNeuronOperation(netuid, 2, stranger));
    const head = (await client.finalizedHead()).number;
    await devnet.waitForFinalized(head + 2);
    expect((await api.query.subtensorModule?.keys?.(netuid, 2))?.toString()).toBe(stranger);
    const { weightTarget } = cycleOptions();
    const started = Date.now();
    const actions: string[] = [];
    let reason = "";
    while (actions.at(-1) !== "set" && Date.now() - started < 100_000) {
      const r = await setWeightsIfDue({
        store,
        target: weightTarget,
        policy: defaultWeightPolicy,
        cadence: { refreshBlocks: 100_000, rateLimitBlocks: 0, inFlightBlocks: 2 },
      });
      actions.push(`${r.action} at ${Date.now() - started} ms: ${r.reason}`);
      reason = r.setting?.reason ?? reason;
      if (r.action === "failed") throw new Error(`weights failed: ${actions.join("; ")}`);
      if (r.action === "set") break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(actions.at(-1), actions.join("; ")).toMatch(/^set /);
    expect(reason).toMatch(/leader not paid: hotkey \w+ is not registered on the subnet/);
    // Uid 2, the stranger's now, gets nothing; the runner-up is promoted (the policy's default).
    expect(await sharesOnChain()).toEqual({ 1: 100 });
    expect(store.weightCommits.list(lastIntent()).map((c) => c.state)).toEqual(["confirmed"]);
    // One commit on chain for it (the blocks since the deregistration).
    expect(await timelockedCommitsOnChain(head + 1)).toBe(commitsMadeSoFar(head + 1));
  }, 150_000);
});

function hotkeyOf(name: string): string {
  return new Keyring({ type: "sr25519", ss58Format: 42 }).addFromUri(`//${name}`).address;
}

async function publishedLeaderboard(): Promise<LeaderboardDocument> {
  return JSON.parse(
    await readFile(join(dir, "published", "leaderboard.json"), "utf8"),
  ) as LeaderboardDocument;
}

/** Alice's weights as a plain @polkadot/api client reads them: uid -> percent. */
async function sharesOnChain(): Promise<Record<number, number>> {
  const weights = ((await api.query.subtensorModule?.weights?.(netuid, 0))?.toJSON() ?? []) as [
    number,
    number,
  ][];
  const total = weights.reduce((s, [, w]) => s + w, 0);
  return Object.fromEntries(weights.map(([uid, w]) => [uid, Math.round((w / total) * 100)]));
}

function lastIntent(): number {
  return store.weightSettings.list({ limit: 1 })[0]?.id ?? -1;
}

/** Commits the controller recorded as made, in block `from` or later. */
function commitsMadeSoFar(from = 1): number {
  return store.weightSettings
    .list()
    .flatMap((w) => store.weightCommits.list(w.id))
    .filter((c) => c.commitBlock !== null && c.commitBlock >= from).length;
}

/** TimelockedWeightsCommitted events in finalized blocks from `from` on. */
async function timelockedCommitsOnChain(from = 1): Promise<number> {
  const head = (await client.finalizedHead()).number;
  const events = api.query.system?.events;
  if (!events) throw new Error("no System.Events");
  let n = 0;
  // 32 blocks at a time: thousands of 100 ms blocks one by one take minutes on a busy machine.
  for (let b = from; b <= head; b += 32) {
    const blocks = Array.from({ length: Math.min(32, head - b + 1) }, (_, i) => b + i);
    const records = await Promise.all(
      blocks.map(
        async (k) => (await events.at(await api.rpc.chain.getBlockHash(k))) as unknown as EventRecord[],
      ),
    );
    n += records
      .flat()
      .filter(
        (e) => e.event.section === "subtensorModule" && e.event.method === "TimelockedWeightsCommitted",
      ).length;
  }
  return n;
}
