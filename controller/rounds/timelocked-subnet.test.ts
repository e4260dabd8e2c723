import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { ApiPromise, Keyring, WsProvider } from "@polkadot/api";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Devnet, startDevnet } from "../../devnet/devnet.ts";
import { minerProgram } from "../../miner/cli/main.ts";
import { runCli } from "../../shared/cli/cli-command.ts";
import { ChainClient } from "../chain/chain-client.ts";
import { chainCommitmentSource } from "../intake/chain-commitment-source.ts";
import { localFolderSink } from "../publish/artefact-sink.ts";
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
// cacheon-miner; nothing is evaluated while the commitments are sealed; once the chain reveals
// them the controller runs a round (simulated pods stand in for GPUs), commits its weights
// timelocked, is stopped between commit and reveal, resumes, and a plain @polkadot/api client
// reads 80/20 back, set once.

const devPhrase = "bottom drive obey lake curtain smoke basket hold race lonely fit walk";
const netuid = 1;
let devnet: Devnet;
let client: ChainClient;
let api: ApiPromise;
let store: ControllerStore;
let dir: string;

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
          ],
        },
      ],
    },
  });
  client = await ChainClient.connect({ endpoints: [devnet.url], rounds: 1 });
  api = await ApiPromise.create({ provider: new WsProvider(devnet.url), noInitWarn: true });
  dir = await mkdtemp(join(tmpdir(), "cacheon-timelocked-"));
  store = openStore({ path: join(dir, "controller.db") });
  const keyring = new Keyring({ type: "sr25519" });
  for (const name of ["Bob", "Charlie", "Dave"]) {
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

async function minerCommit(
  wallet: string,
  image: string,
  revealIn: number,
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
      expect(out).toMatch(/"timelocked":true/);
      expect(code).toBe(0);
    }
    // Nobody (the validator included) can read them yet.
    const sealed = await client.readSubmissions(netuid);
    expect(sealed.records).toEqual([]);
    expect(sealed.pending.map((p) => p.uid).sort()).toEqual([1, 2, 3]);
    const early = await runControllerCycle(cycleOptions(), new AbortController().signal);
    expect(early.intake.pending).toEqual([]);
    expect(early.round).toBeUndefined();
    expect(controllerStatus(store).sealed).toHaveLength(3);
    expect(leaderboard(store).filter((r) => r.state === "sealed")).toHaveLength(3);
    devnet.chain.beacon.resume();

    // The chain reveals them once the beacon's round is out.
    for (;;) {
      const { records } = await client.readSubmissions(netuid);
      if (records.length === 3) {
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

    // A new controller on the same store finishes the same commit.
    const done = await setWeightsIfDue({
      store,
      target: cycleOptions().weightTarget,
      policy: defaultWeightPolicy,
      cadence: { refreshBlocks: 100_000, rateLimitBlocks: 0, inFlightBlocks: 2 },
    });
    expect(done).toMatchObject({ action: "set", reason: expect.stringMatching(/resuming a commit-reveal/) });
    const weights = (await api.query.subtensorModule?.weights?.(netuid, 0))?.toJSON() as [number, number][];
    const total = weights.reduce((s, [, w]) => s + w, 0);
    const share = Object.fromEntries(weights.map(([uid, w]) => [uid, Math.round((w / total) * 100)]));
    expect(share).toEqual({ 1: 20, 2: 80 });
    const commits = store.weightCommits.list(lastIntent());
    expect(commits.map((c) => c.state)).toEqual(["confirmed"]);
    expect(await timelockedCommitsOnChain()).toBe(commitsMadeSoFar());
  }, 90_000);
});

function lastIntent(): number {
  return store.weightSettings.list({ limit: 1 })[0]?.id ?? -1;
}

function commitsMadeSoFar(): number {
  return store.weightSettings
    .list()
    .flatMap((w) => store.weightCommits.list(w.id))
    .filter((c) => c.commitBlock !== null).length;
}

/** TimelockedWeightsCommitted events over the whole chain so far. */
async function timelockedCommitsOnChain(): Promise<number> {
  const head = (await client.finalizedHead()).number;
  let n = 0;
  for (let b = 1; b <= head; b += 1) {
    const events = (await (
      await api.at(await api.rpc.chain.getBlockHash(b))
    ).query.system?.events?.()) as unknown as {
      event: { section: string; method: string };
    }[];
    n += events.filter(
      (e) => e.event.section === "subtensorModule" && e.event.method === "TimelockedWeightsCommitted",
    ).length;
  }
  return n;
}
