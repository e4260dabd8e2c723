import { u8aToHex } from "@polkadot/util";
import { describe, expect, it } from "vitest";
import type { BlockRecord, ExtrinsicOutcome } from "../chain/block-reader.ts";
import { openStore } from "../store/controller-store.ts";
import type { FeePolicy } from "./fee-decision.ts";
import { type BlockSource, FeeLedger } from "./fee-ledger.ts";
import { formatFeeRemark } from "./fee-remark.ts";

// The ledger's catch-up over a replayed chain: blocks are fetched ahead in batches but recorded in
// order, and a block that cannot be read stops the pass at the block before it (read again next
// pass), whatever else of the batch failed meanwhile.

const fees = "5EqhUbzHCvUynKgdeC9nNzWNrcDhgcnvwCi4DzocnhFL9AT7";
const bob = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const digest = `sha256:${"ab".repeat(32)}`;
const policy: FeePolicy = { amount: 100n, destination: fees, windowBlocks: 5, revealBlocks: 0 };

/** Blocks 1..last; bob pays for `digest` in block `paidIn` (batch_all of transfer and remark). */
function replayedChain(last: number, paidIn: number) {
  const failing = new Set<number>();
  const reads: number[] = [];
  const block = (n: number): BlockRecord => ({
    number: n,
    hash: `0x${n.toString(16).padStart(4, "0")}`,
    extrinsics:
      n === paidIn
        ? [
            {
              index: 1,
              hash: "0xpay",
              signer: bob,
              nonce: 0,
              calls: [
                { section: "utility", method: "batchAll", args: [], path: [], atomic: true },
                {
                  section: "balances",
                  method: "transferKeepAlive",
                  args: [{ id: fees }, 100],
                  path: [0],
                  atomic: true,
                },
                {
                  section: "system",
                  method: "remark",
                  args: [u8aToHex(new TextEncoder().encode(formatFeeRemark(1, bob, digest)))],
                  path: [1],
                  atomic: true,
                },
              ],
            },
          ]
        : [],
  });
  const source: BlockSource = {
    blockHash: async (n) => {
      // Later blocks answer first, so the batch really runs ahead of the recording.
      await new Promise((r) => setTimeout(r, (last - n) % 7));
      if (failing.has(n)) throw new Error(`block ${n} is unavailable`);
      reads.push(n);
      return block(n).hash;
    },
    block: async (hash) => block(Number.parseInt(hash.slice(2), 16)),
    outcomes: async () =>
      new Map<number, ExtrinsicOutcome>([
        [1, { success: true, events: [{ name: "balances.Transfer", data: [bob, fees, 100] }] }],
      ]),
  };
  return { source, failing, reads };
}

describe("FeeLedger.catchUp", () => {
  it("reads ahead in batches, records in order, and stops before a block it cannot read", async () => {
    const store = openStore({ path: ":memory:" });
    const chain = replayedChain(40, 20);
    chain.failing.add(25);
    chain.failing.add(30);
    const ledger = new FeeLedger({ source: chain.source, store, policy, netuid: 1, startBlock: 1 });
    await expect(ledger.catchUp(40)).rejects.toThrow(/block 25 is unavailable/);
    expect(ledger.coverage()).toMatchObject({ from: 1, to: 24 });
    // Not past 32: nothing beyond the failing block's batch was even asked for.
    expect(Math.max(...chain.reads)).toBeLessThanOrEqual(32);
    const candidate = { submissionId: "s1", hotkey: bob, digest, commitBlock: 22 };
    expect(ledger.decide(candidate)).toMatchObject({ kind: "paid", paymentId: "20-1" });
    chain.failing.clear();
    expect(await ledger.catchUp(40)).toEqual({ from: 25, to: 40 });
    expect(ledger.coverage()).toMatchObject({ from: 1, to: 40, gaps: [] });
    store.close();
  });

  it("reads at most blocksPerPass blocks a pass, whatever the batch size", async () => {
    const store = openStore({ path: ":memory:" });
    const chain = replayedChain(100, 3);
    const ledger = new FeeLedger({
      source: chain.source,
      store,
      policy,
      netuid: 1,
      startBlock: 1,
      blocksPerPass: 10,
      fetchAhead: 4,
    });
    expect(await ledger.catchUp(100)).toEqual({ from: 1, to: 10 });
    expect(chain.reads.sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    expect(await ledger.catchUp(100)).toEqual({ from: 11, to: 20 });
    store.close();
  });
});
