import { ApiPromise, Keyring, WsProvider } from "@polkadot/api";
import type { SubmittableExtrinsic } from "@polkadot/api/types";
import type { KeyringPair } from "@polkadot/keyring/types";
import { u8aToHex } from "@polkadot/util";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { timelockEncrypt } from "../../shared/timelock/timelock-cipher.ts";
import { encodeWeightsPayload } from "../../shared/timelock/weights-payload.ts";
import { type Devnet, startDevnet } from "../devnet.ts";

// The devnet's CRv4 reveal, probed like a miner or a rival validator would: garbage, another
// validator's ciphertext replayed, a version key below WeightsVersionKey, a round far in the
// future. The chain drops each without a trace (no event, weights unchanged), as subtensor does.

let devnet: Devnet;
let api: ApiPromise;
let alice: KeyringPair;
let dave: KeyringPair;
const netuid = 4;

beforeAll(async () => {
  await cryptoWaitReady();
  const keyring = new Keyring({ type: "sr25519" });
  alice = keyring.addFromUri("//Alice");
  dave = keyring.addFromUri("//Dave");
  devnet = await startDevnet({
    port: 0,
    blockTimeSeconds: 0.1,
    beacon: { periodSeconds: 0.2 },
    seed: {
      subnets: [
        {
          netuid,
          tempo: 4,
          weightsSetRateLimit: 0,
          weightsVersionKey: 7,
          commitRevealWeightsEnabled: true,
          neurons: [
            { hotkey: "//Alice", validatorPermit: true },
            { hotkey: "//Bob" },
            { hotkey: "//Charlie" },
            { hotkey: "//Dave", validatorPermit: true },
          ],
        },
      ],
    },
  });
  api = await ApiPromise.create({ provider: new WsProvider(devnet.url), noInitWarn: true });
});

afterAll(async () => {
  await api?.disconnect();
  await devnet?.close();
});

/** Submits and resolves with the events of the including block once it is finalized. */
async function send(tx: SubmittableExtrinsic<"promise">, signer: KeyringPair): Promise<string[]> {
  return new Promise((resolve, reject) => {
    tx.signAndSend(signer, { nonce: -1 }, (result) => {
      if (result.status.isFinalized)
        resolve(result.events.map(({ event }) => `${event.section}.${event.method}`));
      if (result.isError) reject(new Error(result.status.type));
    }).catch(reject);
  });
}

/** A round out about `seconds` from now on the devnet beacon. */
function roundIn(seconds: number): number {
  const { genesisSeconds, periodSeconds } = devnet.chain.beacon.info;
  return Math.floor((Date.now() / 1000 + seconds - genesisSeconds) / periodSeconds) + 1;
}

/**
 * The newest round whose pulse the chain has stored. Sealing to it makes whether a commit opens
 * depend on block numbers alone, not on how far a loaded machine's blocks lag the beacon.
 */
async function storedRound(): Promise<number> {
  return Number((await api.query.drand?.lastStoredRound?.())?.toString());
}

function sealWeights(
  hotkey: KeyringPair,
  uids: number[],
  values: number[],
  versionKey: bigint,
  round: number,
): string {
  const payload = encodeWeightsPayload({ hotkey: hotkey.publicKey, uids, values, versionKey });
  return u8aToHex(timelockEncrypt(payload, round, devnet.chain.beacon.info));
}

/** Events of finalized blocks `from + 1` to `to`, as "section.method:data". */
async function eventsBetween(from: number, to: number): Promise<string[]> {
  const seen: string[] = [];
  for (let n = from + 1; n <= to; n += 1) {
    const hash = await api.rpc.chain.getBlockHash(n);
    const events = (await (await api.at(hash)).query.system?.events?.()) as unknown as {
      event: { section: string; method: string; data: { toString(): string }[] };
    }[];
    for (const { event } of events)
      seen.push(`${event.section}.${event.method}:${event.data.map(String).join(",")}`);
  }
  return seen;
}

/** Commits queued for the subnet, whatever their epoch. */
async function queuedCommits(): Promise<unknown[]> {
  const queued = await api.query.subtensorModule?.timelockedWeightCommits?.entries(netuid);
  return (queued ?? []).flatMap(([, v]) => v.toJSON() as unknown[]);
}

/**
 * Waits until the subnet's commit queue has drained (each commit revealed or dropped), however
 * many blocks a loaded machine takes, and returns the events of the blocks after `from` up to
 * then. Gives up, returning what it saw, `maxBlocks` blocks after `from`.
 */
async function eventsUntilDrained(from: number, maxBlocks = 60): Promise<string[]> {
  for (let head = from + 1; head < from + maxBlocks; head += 1) {
    await devnet.waitForFinalized(head);
    // The queue is read at the best block: wait until that block is final too.
    const best = devnet.chain.best.number;
    if ((await queuedCommits()).length === 0)
      return eventsBetween(from, (await devnet.waitForFinalized(best)).number);
  }
  return eventsBetween(from, devnet.chain.finalizedNumber);
}

const weightsOf = async (uid: number) => (await api.query.subtensorModule?.weights?.(netuid, uid))?.toJSON();
const commit = (ct: string, round: number, version = 4) =>
  api.tx.subtensorModule?.commitTimelockedWeights?.(
    netuid,
    ct,
    round,
    version,
  ) as SubmittableExtrinsic<"promise">;

describe("commit_timelocked_weights on the devnet", () => {
  it("an honest commit is revealed in the next epoch and announced", async () => {
    const from = devnet.chain.best.number;
    const round = await storedRound();
    expect(await send(commit(sealWeights(alice, [1, 2], [80, 20], 7n, round), round), alice)).toContain(
      "subtensorModule.TimelockedWeightsCommitted",
    );
    const events = await eventsUntilDrained(from);
    expect(
      events.filter((e) => e.startsWith("subtensorModule.TimelockedWeightsRevealed")),
      `sealed to round ${round}; queue now ${JSON.stringify(await queuedCommits())}`,
    ).toEqual([`subtensorModule.TimelockedWeightsRevealed:${netuid},${alice.address}`]);
    expect(await weightsOf(0)).toEqual([
      [1, 65535],
      [2, 16384],
    ]);
  }, 60_000);

  it("refuses a commit_reveal_version other than the chain's (IncorrectCommitRevealVersion)", async () => {
    const round = await storedRound();
    await expect(
      (async () => {
        const events = await send(commit(sealWeights(alice, [1], [1], 7n, round), round, 3), alice);
        if (events.includes("system.ExtrinsicFailed")) throw new Error("ExtrinsicFailed");
      })(),
    ).rejects.toThrow(/ExtrinsicFailed/);
  }, 60_000);

  // Each is sealed to a round the chain already holds, so it is dropped for what it is, not for
  // a pulse that came too late.
  it.each([
    ["garbage bytes", () => u8aToHex(new Uint8Array(300).fill(7))],
    ["Alice's ciphertext replayed by Dave", (round: number) => sealWeights(alice, [3], [1], 7n, round)],
    ["a version key below WeightsVersionKey", (round: number) => sealWeights(dave, [3], [1], 6n, round)],
  ])(
    "drops %s silently: no reveal event, weights unchanged",
    async (_, make) => {
      const before = await weightsOf(3);
      const from = devnet.chain.best.number;
      const round = await storedRound();
      expect(await send(commit(make(round), round), dave)).toContain(
        "subtensorModule.TimelockedWeightsCommitted",
      );
      const events = await eventsUntilDrained(from);
      expect(events.filter((e) => e.startsWith("subtensorModule.TimelockedWeightsRevealed"))).toEqual([]);
      expect(await weightsOf(3)).toEqual(before);
      expect(await queuedCommits()).toEqual([]);
    },
    60_000,
  );

  it("a commit to a round far in the future is never revealed and leaves the queue after its epoch", async () => {
    const from = devnet.chain.best.number;
    const round = roundIn(3600);
    await send(commit(sealWeights(dave, [1], [1], 7n, round), round), dave);
    const events = await eventsUntilDrained(from);
    expect(events.filter((e) => e.startsWith("subtensorModule.TimelockedWeightsRevealed"))).toEqual([]);
    expect(await queuedCommits()).toEqual([]);
  }, 60_000);
});

describe("the devnet's Drand pallet", () => {
  it("stores verified pulses of its beacon; a dropped round is skipped for good", async () => {
    const next = (await api.query.drand?.lastStoredRound?.())?.toJSON() as number;
    // Far enough ahead that the chain has not stored it yet, however loaded the machine.
    devnet.chain.beacon.drop(next + 20);
    for (;;) {
      if (Number((await api.query.drand?.lastStoredRound?.())?.toString()) > next + 21) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const pulse = (await api.query.drand?.pulses?.(next + 19))?.toJSON() as {
      round: number;
      signature: string;
    } | null;
    expect(pulse?.round).toBe(next + 19);
    expect((await api.query.drand?.pulses?.(next + 20))?.toJSON()).toBeNull();
    expect((await api.query.drand?.pulses?.(next + 21))?.toJSON()).not.toBeNull();
    const config = (await api.query.drand?.beaconConfig?.())?.toJSON() as { publicKey: string };
    expect(config.publicKey).toBe(`0x${devnet.chain.beacon.publicKeyHex}`);
  }, 60_000);
});
