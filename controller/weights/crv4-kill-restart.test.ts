import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiPromise, Keyring, WsProvider } from "@polkadot/api";
import { cryptoWaitReady, encodeAddress } from "@polkadot/util-crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Devnet, startDevnet } from "../../devnet/devnet.ts";
import { openStore } from "../store/controller-store.ts";

// A validator SIGKILLed between its CRv4 commit and the chain's reveal (and, in a second run,
// right after it wrote the commit to its store, while the extrinsic is in flight) is started again
// on the same store: it finishes the same commit, and the chain ends with the weights set once.

const child = join(import.meta.dirname, "testing", "weights-child.ts");
let devnet: Devnet;
let api: ApiPromise;
let dir: string;

beforeAll(async () => {
  await cryptoWaitReady();
  devnet = await startDevnet({
    port: 0,
    blockTimeSeconds: 0.1,
    beacon: { periodSeconds: 0.5 },
    seed: {
      subnets: [
        {
          netuid: 1,
          tempo: 20,
          weightsSetRateLimit: 0,
          commitRevealWeightsEnabled: true,
          neurons: [
            { hotkey: "//Alice", validatorPermit: true },
            { hotkey: "//Bob" },
            { hotkey: "//Charlie" },
          ],
        },
      ],
    },
  });
  api = await ApiPromise.create({ provider: new WsProvider(devnet.url), noInitWarn: true });
  dir = await mkdtemp(join(tmpdir(), "cacheon-crv4-kill-"));
});

afterAll(async () => {
  await api?.disconnect();
  await devnet?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs the child; with `killAt`, SIGKILLs it as soon as it prints that commit state. */
async function runChild(db: string, killAt?: string): Promise<string> {
  const { info } = devnet.chain.beacon;
  const beacon = JSON.stringify({ ...info, publicKey: Buffer.from(info.publicKey).toString("hex") });
  const proc: ChildProcess = spawn(process.execPath, [child, devnet.url, db, beacon], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  return new Promise((resolve, reject) => {
    proc.stdout?.on("data", (d) => {
      out += String(d);
      if (killAt && out.includes(`STEP ${killAt}\n`)) proc.kill("SIGKILL");
    });
    proc.stderr?.on("data", (d) => (out += String(d)));
    proc.on("error", reject);
    proc.on("exit", () => resolve(out));
  });
}

function seedStanding(db: string): void {
  const store = openStore({ path: db });
  const keyring = new Keyring({ type: "sr25519" });
  const seat = (name: string, uid: number, speed: number) => {
    const hotkey = encodeAddress(keyring.addFromUri(`//${name}`).publicKey, 42);
    const row = store.submissions.insert({
      hotkey,
      uid,
      raw: `x/${name}@sha256:${"a".repeat(64)}`,
      image: null,
      digest: null,
      commitBlock: uid,
      seenBlock: uid,
      state: "evaluated",
    });
    return { submissionId: row.id, hotkey, commitBlock: uid, settledSpeed: speed };
  };
  store.standings.append(null, { leader: seat("Charlie", 2, 1.8), runnerUp: seat("Bob", 1, 1.5) });
  store.close();
}

async function commitsOnChain(): Promise<number> {
  const head = devnet.chain.finalizedNumber;
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

describe("CRv4 weights across a SIGKILL", () => {
  it.each([
    ["between commit and reveal", "committed"],
    ["with the commit in flight", "prepared"],
  ])(
    "killed %s, restarted: the same commit lands, weights once",
    async (_, killAt) => {
      const db = join(dir, `${killAt}.db`);
      seedStanding(db);
      const before = await commitsOnChain();
      devnet.chain.beacon.pause();
      const first = await runChild(db, killAt);
      expect(first).toContain(`STEP ${killAt}`);
      expect(first).not.toContain("DONE");
      devnet.chain.beacon.resume();
      const second = await runChild(db);
      expect(second).toMatch(/DONE set resuming a commit-reveal/);
      const weights = (await api.query.subtensorModule?.weights?.(1, 0))?.toJSON() as [number, number][];
      const total = weights.reduce((s, [, w]) => s + w, 0);
      expect(Object.fromEntries(weights.map(([u, w]) => [u, Math.round((w / total) * 100)]))).toEqual({
        1: 20,
        2: 80,
      });
      expect((await commitsOnChain()) - before).toBe(1);
      const store = openStore({ path: db });
      const intent = store.weightSettings.list({ limit: 1 })[0];
      expect(intent?.state).toBe("confirmed");
      // A commit killed before it reached the chain is replaced once its era is over; one that landed is finished.
      const states = store.weightCommits.list(intent?.id ?? -1).map((c) => c.state);
      expect(
        killAt === "committed" ? [["confirmed"]] : [["confirmed"], ["expired", "confirmed"]],
      ).toContainEqual(states);
      store.close();
    },
    150_000,
  );
});
