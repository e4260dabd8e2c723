import { ApiPromise, Keyring, WsProvider } from "@polkadot/api";
import type { KeyringPair } from "@polkadot/keyring/types";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Devnet, startDevnet } from "../devnet.ts";
import { defaultSeed } from "./devnet-seed.ts";
import type { PoolFault } from "./pool-faults.ts";

// What a plain @polkadot/api watcher sees for each injected fault, block by block.

let devnet: Devnet;
let api: ApiPromise;
const signers = Array.from({ length: 10 }, (_, i) => `//Faulty${i}`);
let keyring: Keyring;
let next = 0;

beforeAll(async () => {
  await cryptoWaitReady();
  keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
  devnet = await startDevnet({
    port: 0,
    blockTimeSeconds: 0,
    seed: { ...defaultSeed(), accounts: Object.fromEntries(signers.map((s) => [s, 1_000_000_000_000])) },
  });
  api = await ApiPromise.create({ provider: new WsProvider(devnet.url), noInitWarn: true });
});

afterAll(async () => {
  await api?.disconnect();
  await devnet?.close();
});

/**
 * Submits a remark under `fault` from a fresh account (a hung extrinsic holds its signer's nonce),
 * produces `blocks` blocks, returns the statuses seen and whether it landed.
 */
async function watch(
  fault: PoolFault | undefined,
  blocks: number,
): Promise<{ statuses: string[]; landed: boolean }> {
  const signer: KeyringPair = keyring.addFromUri(signers[next++] ?? "//Spare");
  if (fault) devnet.chain.injectFault({ call: "system.remark", signer: signer.address, ...fault });
  const statuses: string[] = [];
  const remark = api.tx.system?.remark;
  if (!remark) throw new Error("no System.remark");
  const tx = remark(`fault ${JSON.stringify(fault)} ${Math.random()}`);
  await tx.signAsync(signer, { nonce: -1 });
  // The raw subscription: every status the node sends, in order (signAndSend's callback waits
  // for each InBlock's events and skips one that a newer status overtakes).
  const seen = new Promise<void>((resolve) => {
    void api.rpc.author.submitAndWatchExtrinsic(tx, (status) => {
      statuses.push(status.type);
      if (statuses.length === 1) resolve();
    });
  });
  await seen;
  const hash = tx.hash.toHex();
  let landed = false;
  for (let i = 0; i < blocks; i += 1) {
    const block = devnet.produceBlock();
    await new Promise((r) => setTimeout(r, 30));
    if (block.extrinsics.some((x) => api.registry.hash(Buffer.from(x.slice(2), "hex")).toHex() === hash))
      landed = true;
  }
  await new Promise((r) => setTimeout(r, 50));
  return { statuses, landed };
}

describe("devnet pool faults", () => {
  it("an ordinary extrinsic goes Ready, InBlock, Finalized", async () => {
    expect(await watch(undefined, 3)).toEqual({ statuses: ["Ready", "InBlock", "Finalized"], landed: true });
  });

  it("hang: Ready and nothing more; delay: lands late", async () => {
    expect(await watch({ kind: "hang" }, 3)).toEqual({ statuses: ["Ready"], landed: false });
    // The hung remark holds Alice's nonce: nothing of hers lands until it leaves the pool (mortal era).
    const delayed = await watch({ kind: "delay", blocks: 2 }, 70);
    expect(delayed.landed).toBe(true);
    expect(delayed.statuses).toEqual(
      ["Future", "Ready", "InBlock", "Finalized"].filter((s) => delayed.statuses.includes(s)),
    );
  });

  it("invalid, usurped and dropped end the watch; a dropped one may still land", async () => {
    expect(await watch({ kind: "invalid" }, 2)).toEqual({ statuses: ["Ready", "Invalid"], landed: false });
    expect(await watch({ kind: "usurp" }, 2)).toEqual({ statuses: ["Ready", "Usurped"], landed: false });
    expect(await watch({ kind: "drop" }, 2)).toEqual({ statuses: ["Ready", "Dropped"], landed: false });
    expect(await watch({ kind: "drop", landAfterBlocks: 1 }, 3)).toEqual({
      statuses: ["Ready", "Dropped"],
      landed: true,
    });
  });

  it("finalityTimeout after inclusion; retracted then included again", async () => {
    expect(await watch({ kind: "finalityTimeout" }, 3)).toEqual({
      statuses: ["Ready", "InBlock", "FinalityTimeout"],
      landed: true,
    });
    expect(await watch({ kind: "retract" }, 3)).toEqual({
      statuses: ["Ready", "InBlock", "Retracted", "InBlock", "Finalized"],
      landed: true,
    });
  });
});
