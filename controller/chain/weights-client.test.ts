import { ApiPromise, Keyring, WsProvider } from "@polkadot/api";
import type { KeyringPair } from "@polkadot/keyring/types";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Devnet, startDevnet } from "../../devnet/devnet.ts";
import { quicknet } from "../../shared/timelock/beacon-info.ts";
import { type ControllerStore, openStore } from "../store/controller-store.ts";
import { ChainClient } from "./chain-client.ts";
import { readEpochSchedule } from "./weights-client.ts";

// CRv4 against the devnet: a block every 100 ms, tempo 20, reveal period 1, a beacon round every
// 200 ms. The controller is given the devnet beacon's public key, as an operator would be.

let devnet: Devnet;
let client: ChainClient;
let api: ApiPromise;
let alice: KeyringPair;
let store: ControllerStore;
const netuid = 3;
const hashNetuid = 5;
const weights = new Map([
  [1, 80],
  [2, 20],
]);

beforeAll(async () => {
  await cryptoWaitReady();
  alice = new Keyring({ type: "sr25519" }).addFromUri("//Alice");
  devnet = await startDevnet({
    port: 0,
    blockTimeSeconds: 0.1,
    beacon: { periodSeconds: 0.2 },
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
          ],
        },
        {
          // The hash commit-reveal's window is one epoch: 8 s here, so a restart on a loaded machine is within it.
          netuid: hashNetuid,
          tempo: 80,
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
  client = await ChainClient.connect({ endpoints: [devnet.url], rounds: 1 });
  api = await ApiPromise.create({ provider: new WsProvider(devnet.url), noInitWarn: true });
});

beforeAll(() => {
  store = openStore({ path: ":memory:" });
});

afterAll(async () => {
  await api?.disconnect();
  await client?.close();
  await devnet?.close();
});

const options = (intentId: number, signal?: AbortSignal) => ({
  signer: alice,
  commits: store.weightCommits,
  beacon: devnet.chain.beacon.info,
  blockSeconds: 0.1,
  intentId,
  ...(signal ? { signal } : {}),
});

async function weightsOnChain(subnet = netuid): Promise<unknown> {
  return (await api.query.subtensorModule?.weights?.(subnet, 0))?.toJSON();
}

describe("setChainWeights with drand timelocked commit-reveal (CRv4)", () => {
  it("reads the chain's own epoch schedule through get_next_epoch_start_block", async () => {
    const s = await readEpochSchedule(client, netuid);
    expect(s.tempo).toBe(20);
    expect(s.nextEpochStart).toBe(s.lastEpochBlock + 20);
    expect(s.block - s.lastEpochBlock).toBeLessThan(21);
  });

  it("refuses to commit timelocked when configured with another beacon than the chain follows (quicknet vs the devnet's)", async () => {
    await expect(client.setWeights(netuid, weights, { ...options(20), beacon: quicknet })).rejects.toThrow(
      /chain's Drand pallet follows the beacon with public key .* not the configured chain.drand.publicKey/,
    );
    expect(store.weightCommits.list(20)).toEqual([]);
  });

  it("commits timelocked, the devnet reveals, and a plain @polkadot/api client reads 80/20 back", async () => {
    const result = await client.setWeights(netuid, weights, options(1));
    expect(result).toMatchObject({ mode: "timelock", uids: [1, 2], values: [65535, 16384] });
    expect(await weightsOnChain()).toEqual([
      [1, 65535],
      [2, 16384],
    ]);
    const [row] = store.weightCommits.list(1);
    expect(row).toMatchObject({ mode: "timelock", state: "confirmed" });
    expect(row?.revealRound).toBeGreaterThan(0);
  }, 90_000);

  it("a controller stopped between commit and reveal resumes the same commit: one commit, weights on chain once", async () => {
    const stop = new AbortController();
    const first = client.setWeights(netuid, new Map([[2, 1]]), options(2, stop.signal));
    // Stop as soon as the commit is on chain (the salt of the matter: the ciphertext is in the store).
    for (;;) {
      const row = store.weightCommits.list(2)[0];
      if (row?.state === "committed") break;
      await new Promise((r) => setTimeout(r, 20));
    }
    devnet.chain.beacon.pause();
    stop.abort();
    await expect(first).rejects.toThrow(/stopped waiting/);
    devnet.chain.beacon.resume();
    expect(await weightsOnChain()).not.toEqual([[2, 65535]]);
    const resumed = await client.setWeights(netuid, new Map([[2, 1]]), options(2));
    expect(resumed.mode).toBe("timelock");
    expect(await weightsOnChain()).toEqual([[2, 65535]]);
    expect(store.weightCommits.list(2)).toHaveLength(1);
    expect(
      await countEvents("TimelockedWeightsCommitted", store.weightCommits.list(2)[0]?.commitBlock ?? 0),
    ).toBe(1);
  }, 90_000);

  it("a beacon outage over the reveal epoch drops the commit; the next attempt commits afresh and lands", async () => {
    devnet.chain.beacon.pause();
    await expect(client.setWeights(netuid, new Map([[1, 1]]), options(3))).rejects.toThrow(
      /without the weights being set/,
    );
    expect(store.weightCommits.list(3).map((r) => r.state)).toEqual(["expired"]);
    expect(await weightsOnChain()).toEqual([[2, 65535]]);
    devnet.chain.beacon.resume();
    await client.setWeights(netuid, new Map([[1, 1]]), options(3));
    expect(store.weightCommits.list(3).map((r) => r.state)).toEqual(["expired", "confirmed"]);
    expect(await weightsOnChain()).toEqual([[1, 65535]]);
  }, 120_000);
});

describe("setChainWeights with the blake2 hash commit-reveal", () => {
  it("a controller stopped between commit and reveal reveals with the stored salt on restart: one commit", async () => {
    const stop = new AbortController();
    const first = client.setWeights(
      hashNetuid,
      new Map([
        [2, 3],
        [1, 1],
      ]),
      { ...options(10, stop.signal), commitReveal: "hash" },
    );
    for (;;) {
      if (store.weightCommits.list(10)[0]?.state === "committed") break;
      await new Promise((r) => setTimeout(r, 20));
    }
    stop.abort();
    await expect(first).rejects.toThrow();
    const [row] = store.weightCommits.list(10);
    expect(row?.salt).toHaveLength(8);
    const resumed = await client.setWeights(
      hashNetuid,
      new Map([
        [2, 3],
        [1, 1],
      ]),
      { ...options(10), commitReveal: "hash" },
    );
    expect(resumed.mode).toBe("commit-reveal");
    expect(await weightsOnChain(hashNetuid)).toEqual([
      [1, 21845],
      [2, 65535],
    ]);
    expect(store.weightCommits.list(10).map((r) => r.state)).toEqual(["confirmed"]);
    expect(
      (await api.query.subtensorModule?.weightCommits?.(hashNetuid, alice.address))?.toJSON(),
    ).toBeNull();
  }, 90_000);
});

/** TimelockedWeightsCommitted events of Alice from `from` to the finalized head. */
async function countEvents(method: string, from: number): Promise<number> {
  const head = (await client.finalizedHead()).number;
  let n = 0;
  for (let b = Math.max(1, from - 5); b <= head; b += 1) {
    const hash = await api.rpc.chain.getBlockHash(b);
    const events = (await (await api.at(hash)).query.system?.events?.()) as unknown as {
      event: { section: string; method: string; data: { toString(): string }[] };
    }[];
    for (const { event } of events ?? [])
      if (
        event.section === "subtensorModule" &&
        event.method === method &&
        event.data[0]?.toString() === alice.address
      )
        n += 1;
  }
  return n;
}
