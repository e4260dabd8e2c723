import { ApiPromise, Keyring, WsProvider } from "@polkadot/api";
import type { SubmittableExtrinsic } from "@polkadot/api/types";
import type { KeyringPair } from "@polkadot/keyring/types";
import { u8aToHex } from "@polkadot/util";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Devnet, startDevnet } from "../../devnet/devnet.ts";
import { encodeCommitmentText } from "../../shared/timelock/commitment-payload.ts";
import { timelockEncrypt } from "../../shared/timelock/timelock-cipher.ts";
import { ChainClient } from "./chain-client.ts";
import type { CommitmentRecord } from "./commitments-client.ts";

// Timelocked commitments read the way a validator must, probed the way a miner would: a ciphertext
// replayed by another hotkey (bound and unbound), plaintext garbage, undecryptable bytes, a round
// far in the future. Beacon round every second, a block every 100 ms.

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const netuid = 1;
let devnet: Devnet;
let client: ChainClient;
let api: ApiPromise;
const key: Record<string, KeyringPair> = {};

beforeAll(async () => {
  await cryptoWaitReady();
  const keyring = new Keyring({ type: "sr25519" });
  for (const name of ["Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie"])
    key[name] = keyring.addFromUri(`//${name}`);
  devnet = await startDevnet({ port: 0, blockTimeSeconds: 0.1, beacon: { periodSeconds: 1 } });
  client = await ChainClient.connect({ endpoints: [devnet.url], rounds: 1 });
  api = await ApiPromise.create({ provider: new WsProvider(devnet.url), noInitWarn: true });
});

afterAll(async () => {
  await api?.disconnect();
  await client?.close();
  await devnet?.close();
});

const beacon = () => devnet.chain.beacon.info;
const roundIn = (seconds: number) =>
  Math.floor((Date.now() / 1000 + seconds - beacon().genesisSeconds) / beacon().periodSeconds) + 1;

function sealed(
  text: string | Uint8Array,
  round: number,
): { TimelockEncrypted: { encrypted: string; reveal_round: number } } {
  const plaintext = typeof text === "string" ? encodeCommitmentText(text) : text;
  return {
    TimelockEncrypted: {
      encrypted: u8aToHex(timelockEncrypt(plaintext, round, beacon())),
      reveal_round: round,
    },
  };
}

async function commitField(who: KeyringPair, field: unknown): Promise<number> {
  const tx = api.tx.commitments?.setCommitment?.(netuid, {
    fields: [field],
  }) as SubmittableExtrinsic<"promise">;
  const block = await client.submit(tx, who);
  return block.number;
}

async function untilRevealed(hotkeys: string[], after = 0): Promise<CommitmentRecord[]> {
  for (;;) {
    const { records } = await client.readSubmissions(netuid);
    const mine = records.filter(
      (r) => hotkeys.includes(r.hotkey) && r.source === "revealed" && r.block > after,
    );
    if (mine.length === hotkeys.length) return mine;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("reading timelocked commitments", () => {
  it("a sealed commitment is pending until its round, then the revealed text is the submission", async () => {
    const round = roundIn(6);
    // The beacon is held back while we look, so a slow machine cannot reveal it before the check.
    devnet.chain.beacon.pause();
    await client.commit(netuid, `a/b@${digest("a")}`, key.Bob as KeyringPair, undefined, {
      revealInBlocks: 60,
      blockSeconds: 0.1,
    });
    await devnet.waitForFinalized(devnet.chain.finalizedNumber + 3);
    const before = await client.readSubmissions(netuid);
    devnet.chain.beacon.resume();
    expect(before.records.find((r) => r.hotkey === key.Bob?.address)).toBeUndefined();
    expect(before.pending.find((p) => p.hotkey === key.Bob?.address)?.revealRound).toBeGreaterThanOrEqual(
      round - 2,
    );
    const [bob] = await untilRevealed([key.Bob?.address as string]);
    expect(bob).toMatchObject({ uid: 1, source: "revealed", submission: { ok: true } });
    expect(bob?.eventIndex).toBeTypeOf("number");
    expect(
      (await client.readSubmissions(netuid)).pending.find((p) => p.hotkey === key.Bob?.address),
    ).toBeUndefined();
  }, 90_000);

  it("a later plain commitment replaces a revealed one", async () => {
    await client.commit(netuid, `a/c@${digest("c")}`, key.Bob as KeyringPair);
    const bob = (await client.readSubmissions(netuid)).records.find((r) => r.hotkey === key.Bob?.address);
    expect(bob).toMatchObject({
      source: "plain",
      submission: { ok: true, reference: expect.stringContaining(digest("c")) },
    });
  }, 90_000);

  it("a bound sealed commitment replayed by another hotkey reveals as refused; an unbound replay loses on commit block", async () => {
    const round = roundIn(3);
    const bound = sealed(
      JSON.stringify({ image: "x/orig", digest: digest("d"), hotkey: key.Charlie?.address }),
      round,
    );
    const unbound = sealed(`x/plain@${digest("e")}`, round);
    // Held back until all four are committed, so they reveal in one block however slow the machine.
    devnet.chain.beacon.pause();
    await commitField(key.Charlie as KeyringPair, bound);
    await commitField(key.Eve as KeyringPair, unbound);
    // The copier sees both on chain and replays the exact bytes in a later block.
    await commitField(key.Dave as KeyringPair, bound);
    await commitField(key.Ferdie as KeyringPair, unbound);
    devnet.chain.beacon.resume();
    const revealed = await untilRevealed(
      [key.Charlie, key.Dave, key.Eve, key.Ferdie].map((k) => k?.address as string),
    );
    const of = (k: KeyringPair | undefined) =>
      revealed.find((r) => r.hotkey === k?.address) as CommitmentRecord;
    expect(of(key.Charlie).submission).toMatchObject({ ok: true });
    expect(of(key.Dave).submission).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/replayed commitment/),
    });
    // Same reveal block for all four: the unbound original ranks before its replay.
    expect(new Set(revealed.map((r) => r.block)).size).toBe(1);
    expect(of(key.Eve).eventIndex).toBeLessThan(of(key.Ferdie).eventIndex as number);
    expect(of(key.Eve).submission).toMatchObject({ ok: true });
  }, 90_000);

  it("garbage inside a valid seal is refused with a reason; undecryptable bytes vanish; a far round stays pending", async () => {
    const round = roundIn(2);
    const from = await commitField(key.Charlie as KeyringPair, sealed(new Uint8Array([1, 2, 3]), round));
    await commitField(key.Dave as KeyringPair, {
      TimelockEncrypted: { encrypted: u8aToHex(new Uint8Array(300).fill(9)), reveal_round: round },
    });
    await commitField(key.Eve as KeyringPair, sealed(`x/far@${digest("f")}`, roundIn(3600)));
    const [charlie] = await untilRevealed([key.Charlie?.address as string], from);
    expect(charlie?.submission).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/not a SCALE string/),
    });
    await devnet.waitForFinalized(devnet.chain.finalizedNumber + 15);
    const { records, pending } = await client.readSubmissions(netuid);
    // Dave's undecryptable commitment was dropped by the chain: his previous reveal is still his submission.
    expect(records.find((r) => r.hotkey === key.Dave?.address)?.submission).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/replayed/),
    });
    expect(pending.find((p) => p.hotkey === key.Dave?.address)).toBeUndefined();
    expect(pending.find((p) => p.hotkey === key.Eve?.address)?.revealRound).toBeGreaterThan(round + 1000);
  }, 90_000);
});
