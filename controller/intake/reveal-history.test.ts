import { Keyring } from "@polkadot/api";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Devnet, startDevnet } from "../../devnet/devnet.ts";
import { ChainClient } from "../chain/chain-client.ts";
import { openStore } from "../store/controller-store.ts";
import { chainCommitmentSource } from "./chain-commitment-source.ts";
import { ingestCommitments } from "./ingest-commitments.ts";

// RevealedCommitments keeps a hotkey's last 10 reveals. A controller that was away while a miner
// revealed 12 times reads the older ones from the finalized CommitmentRevealed events (cursor in
// the store), so a hotkey that later commits the first revealed image in the clear is a copy.

const digest = (n: number) => `sha256:${n.toString(16).padStart(2, "0").repeat(32)}`;
let devnet: Devnet;
let client: ChainClient;

beforeAll(async () => {
  await cryptoWaitReady();
  devnet = await startDevnet({
    port: 0,
    blockTimeSeconds: 0.1,
    beacon: { periodSeconds: 1 },
    seed: {
      subnets: [
        {
          netuid: 1,
          tempo: 3,
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
});

afterAll(async () => {
  await client?.close();
  await devnet?.close();
});

describe("reveal history beyond the last 10", () => {
  it("a reveal no longer in RevealedCommitments still owns its content", async () => {
    const keyring = new Keyring({ type: "sr25519" });
    const bob = keyring.addFromUri("//Bob");
    const charlie = keyring.addFromUri("//Charlie");
    const store = openStore({ path: ":memory:" });
    const source = chainCommitmentSource({ client, netuid: 1, cursors: store.chainCursors });
    ingestCommitments({ store, snapshot: await source.snapshot() });
    expect(store.chainCursors.get("commitment-reveals:1")).toBeDefined();

    // Sealed to the round out a moment ago (the SDK's formula rounds down): the chain reveals each in
    // the next block, once the beacon has a stored round before the latest.
    for (;;) {
      const last = Number((await client.api.query.drand?.lastStoredRound?.())?.toString());
      const oldest = Number((await client.api.query.drand?.oldestStoredRound?.())?.toString());
      if (last >= oldest + 2) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    for (let n = 0; n < 12; n += 1) {
      const from =
        (await client.readSubmissions(1)).records.find((r) => r.hotkey === bob.address)?.block ?? 0;
      await client.commit(1, `r/bob${n}@${digest(n)}`, bob, undefined, {
        revealInBlocks: 1,
        blockSeconds: 0.1,
      });
      for (;;) {
        const now = (await client.readSubmissions(1)).records.find((r) => r.hotkey === bob.address);
        if (now && now.block > from) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const stored = await client.api.query.commitments?.revealedCommitments?.(1, bob.address);
    expect((stored?.toJSON() as unknown[] | undefined)?.length).toBe(10);
    await client.commit(1, `r/charlie@${digest(0)}`, charlie);

    const summary = ingestCommitments({ store, snapshot: await source.snapshot() });
    const bobs = store.submissions.list().filter((s) => s.hotkey === bob.address);
    expect(bobs.filter((s) => s.state === "superseded")).toHaveLength(11);
    expect(bobs.find((s) => s.digest === digest(0))?.reason).toMatch(/CommitmentRevealed events/);
    const charlies = store.submissions.list().find((s) => s.hotkey === charlie.address);
    expect(charlies).toMatchObject({ state: "copy" });
    expect(summary.copies).toEqual([charlies?.id]);

    // The cursor moved: the same history is not recorded twice.
    ingestCommitments({ store, snapshot: await source.snapshot() });
    expect(store.submissions.list().filter((s) => s.hotkey === bob.address)).toHaveLength(12);
    store.close();
  }, 150_000);
});
