import { ApiPromise, Keyring, WsProvider } from "@polkadot/api";
import type { KeyringPair } from "@polkadot/keyring/types";
import type { EventRecord } from "@polkadot/types/interfaces";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PoolFaultKind } from "../../devnet/chain/pool-faults.ts";
import { type Devnet, startDevnet } from "../../devnet/devnet.ts";
import { replaceNeuronOperation } from "../../devnet/pallets/admin-operations.ts";
import { ChainClient } from "../chain/chain-client.ts";
import { type ControllerStore, openStore } from "../store/controller-store.ts";
import { chainWeightTarget } from "./chain-weight-target.ts";
import { defaultWeightPolicy } from "./weight-policy.ts";
import { setWeightsIfDue, type WeightCadence, type WeightTarget } from "./weight-setter.ts";

// The weight loop against the devnet: the uid of a deregistered leader goes to a stranger and the
// stranger is never paid; a weights extrinsic that is dropped (and lands anyway), usurped or hung
// ends with the weights on chain exactly once. Plain @polkadot/api reads the chain independently.

let devnet: Devnet;
let client: ChainClient;
let api: ApiPromise;
let alice: KeyringPair;
let stranger: KeyringPair;
const every: WeightCadence = { refreshBlocks: 1, rateLimitBlocks: 0, inFlightBlocks: 64 };

beforeAll(async () => {
  await cryptoWaitReady();
  const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
  alice = keyring.addFromUri("//Alice");
  stranger = keyring.addFromUri("//Stranger");
  devnet = await startDevnet({
    port: 0,
    blockTimeSeconds: 0.05,
    seed: {
      subnets: [
        {
          netuid: 1,
          weightsSetRateLimit: 0,
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

afterAll(async () => {
  await api?.disconnect();
  await client?.close();
  await devnet?.close();
});

/** A store whose standing seats Bob (uid 1) as leader and Charlie (uid 2) as runner-up. */
function seatedStore(): ControllerStore {
  const store = openStore({ path: ":memory:" });
  const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
  const seat = (uri: string, uid: number) => {
    const hotkey = keyring.addFromUri(uri).address;
    const s = store.submissions.insert({
      hotkey,
      uid,
      raw: "r",
      image: "i",
      digest: `sha256:${uri}`,
      commitBlock: 1,
      seenBlock: 1,
      state: "evaluated",
    });
    return { submissionId: s.id, hotkey, commitBlock: 1, settledSpeed: 1.5 };
  };
  store.standings.append(null, { leader: seat("//Bob", 1), runnerUp: seat("//Charlie", 2) });
  return store;
}

function target(store: ControllerStore, deadlineMs = 20_000): WeightTarget {
  return chainWeightTarget({
    client,
    netuid: 1,
    signer: alice,
    commits: store.weightCommits,
    submit: { deadlineMs, mortalBlocks: 16 },
  });
}

async function aliceWeights(): Promise<[number, number][]> {
  return ((await api.query.subtensorModule?.weights?.(1, 0))?.toJSON() ?? []) as [number, number][];
}

/** How many WeightsSet events Alice's uid got in finalized blocks after `from`. */
async function weightsSetSince(from: number): Promise<number> {
  const head = (await client.finalizedHead()).number;
  let count = 0;
  for (let n = from + 1; n <= head; n += 1) {
    const hash = await api.rpc.chain.getBlockHash(n);
    const records = (await api.query.system?.events?.at(hash)) as unknown as EventRecord[];
    count += records.filter(
      (r) => r.event.section === "subtensorModule" && r.event.method === "WeightsSet",
    ).length;
  }
  return count;
}

async function passUntil(
  store: ControllerStore,
  t: WeightTarget,
  done: (action: string) => boolean,
): Promise<string[]> {
  const actions: string[] = [];
  for (let i = 0; i < 200; i += 1) {
    const r = await setWeightsIfDue({ store, target: t, policy: defaultWeightPolicy, cadence: every });
    actions.push(r.action);
    if (done(r.action)) return actions;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no end after ${actions.join(", ")}`);
}

describe("weights on the devnet", () => {
  it("a leader deregistered mid-round: the stranger who takes its uid is never paid", async () => {
    const store = seatedStore();
    const t = target(store);
    expect(
      (await setWeightsIfDue({ store, target: t, policy: defaultWeightPolicy, cadence: every })).action,
    ).toBe("set");
    expect(await aliceWeights()).toEqual([
      [1, 65535],
      [2, 16384],
    ]);
    // Bob's uid 1 is pruned and given to a stranger.
    await devnet.chain.scheduleAdmin(replaceNeuronOperation(1, 1, stranger.address));
    const head = (await client.finalizedHead()).number;
    await devnet.waitForFinalized(head + 2);
    const r = await setWeightsIfDue({ store, target: t, policy: defaultWeightPolicy, cadence: every });
    expect(r.action).toBe("set");
    expect(r.setting?.reason).toMatch(/leader not paid: hotkey \w+ is not registered on the subnet/);
    // The runner-up is promoted (policy default); uid 1, now the stranger's, gets nothing.
    expect(await aliceWeights()).toEqual([[2, 65535]]);
    expect((await api.query.subtensorModule?.keys?.(1, 1))?.toString()).toBe(stranger.address);
  });

  it.each<[string, PoolFaultKind, number]>([
    ["dropped by the node but kept by another, landing later", { kind: "drop", landAfterBlocks: 4 }, 20_000],
    ["usurped", { kind: "usurp" }, 20_000],
    ["hung until its era ends (deadline 400 ms)", { kind: "hang" }, 400],
    ["invalid", { kind: "invalid" }, 20_000],
  ])(
    "a weights extrinsic %s ends with the weights on chain exactly once",
    async (_name, fault, deadline) => {
      const store = seatedStore();
      const t = target(store, deadline);
      // Make the standing's weights differ from what is on chain, so the set is visible.
      const before = (await client.finalizedHead()).number;
      devnet.chain.injectFault({ ...fault, call: "subtensorModule.setWeights", signer: alice.address });
      const actions = await passUntil(store, t, (a) => a === "set" || a === "confirmed-earlier");
      const settings = store.weightSettings.list();
      expect(settings[0]?.state).toBe("confirmed");
      await devnet.waitForFinalized((await client.finalizedHead()).number + 2);
      // Exactly one set_weights took effect, whatever the pool did with the first extrinsic.
      expect(await weightsSetSince(before)).toBe(1);
      expect(actions.filter((a) => a === "set" || a === "confirmed-earlier")).toHaveLength(1);
      if (fault.kind === "drop") expect(actions.at(-1)).toBe("confirmed-earlier");
      // Usurped is known at once never to land: the setting fails and a fresh decision follows.
      else if (fault.kind === "usurp") expect(settings.map((s) => s.state)).toEqual(["confirmed", "failed"]);
      // Hung or invalid: in doubt until its era ended, then the same decision sent again, one row.
      else {
        expect(settings).toHaveLength(1);
        expect(actions).toContain("waiting");
      }
    },
    60_000,
  );
});
