import { ApiPromise, Keyring, WsProvider } from "@polkadot/api";
import type { SubmittableExtrinsic } from "@polkadot/api/types";
import type { KeyringPair } from "@polkadot/keyring/types";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PoolFaultKind } from "../../devnet/chain/pool-faults.ts";
import { type Devnet, startDevnet } from "../../devnet/devnet.ts";
import type { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { ChainDispatchError } from "./chain-errors.ts";
import {
  ExtrinsicInDoubt,
  ExtrinsicNotLanded,
  extrinsicFate,
  type SentExtrinsic,
  submitExtrinsic,
} from "./extrinsic-submitter.ts";

// Every way a pool or a node can answer, made real by the devnet's injected faults, and what the
// submitter concludes: final, never landing, or in doubt until its era ends (extrinsicFate tells).

let devnet: Devnet;
let api: ApiPromise;
const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
const names = Array.from({ length: 12 }, (_, i) => `//Submitter${i}`);
let next = 0;

beforeAll(async () => {
  await cryptoWaitReady();
  devnet = await startDevnet({
    port: 0,
    blockTimeSeconds: 0.05,
    seed: {
      accounts: { ...Object.fromEntries(names.map((n) => [n, 1_000_000_000_000])), "//Pauper": 1_000 },
      subnets: [{ netuid: 1, neurons: [{ hotkey: "//Alice", validatorPermit: true }] }],
    },
  });
  api = await ApiPromise.create({ provider: new WsProvider(devnet.url), noInitWarn: true });
});

afterAll(async () => {
  await api?.disconnect();
  await devnet?.close();
});

/** A fresh funded signer per case (a hung extrinsic holds its signer's nonce) and a remark under `fault`. */
function remarkUnder(fault?: PoolFaultKind): {
  signer: KeyringPair;
  tx: SubmittableExtrinsic<"promise">;
} {
  const signer = keyring.addFromUri(names[next++] ?? "//Spare");
  if (fault) devnet.chain.injectFault({ ...fault, call: "system.remark", signer: signer.address });
  const remark = api.tx.system?.remark;
  if (!remark) throw new Error("no System.remark");
  return { signer, tx: remark(`submitter test ${next} ${Math.random()}`) };
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error("expected a failure");
    },
    (e: Error) => e,
  );
}

async function untilBlock(number: number): Promise<void> {
  await devnet.waitForFinalized(number);
}

describe("submitExtrinsic", () => {
  it("resolves with the finalized block and reports the mortal era it signed before sending", async () => {
    const { signer, tx } = remarkUnder();
    const signed: SentExtrinsic[] = [];
    const statuses: string[] = [];
    const block = await submitExtrinsic(api, tx, signer, {
      mortalBlocks: 32,
      onSigned: (s) => signed.push(s),
      onStatus: (s) => statuses.push(s),
    });
    expect(signed).toHaveLength(1);
    const sent = signed[0] as SentExtrinsic;
    expect(sent.validUntil - sent.birthBlock).toBe(31);
    expect(block.number).toBeGreaterThanOrEqual(sent.birthBlock);
    expect(block.number).toBeLessThanOrEqual(sent.validUntil);
    expect(statuses).toContain("Finalized");
    expect(await extrinsicFate(api, sent)).toMatchObject({ state: "landed", block });
  });

  it("a call the runtime refuses in a block is a ChainDispatchError (Token errors by name)", async () => {
    const signer = keyring.addFromUri(names[next++] ?? "");
    const transfer = api.tx.balances?.transferKeepAlive;
    if (!transfer) throw new Error("no transfer");
    const error = await failure(submitExtrinsic(api, transfer(signer.address, 10n ** 18n), signer));
    expect(error).toBeInstanceOf(ChainDispatchError);
    expect((error as ChainDispatchError).errorName).toBe("FundsUnavailable");
    expect(error.message).toMatch(/Token\.FundsUnavailable/);
  });

  it("a pool refusal when sent is final and says what to do", async () => {
    const pauper = keyring.addFromUri("//Pauper");
    const remark = api.tx.system?.remark;
    if (!remark) throw new Error("no remark");
    const error = await failure(submitExtrinsic(api, remark("x"), pauper));
    expect(error).not.toBeInstanceOf(ExtrinsicInDoubt);
    expect(error.message).toMatch(/cannot pay the transaction fee/);
  });

  it("hang: the deadline passes, it is in doubt, pending while its era lasts, then lost", async () => {
    const { signer, tx } = remarkUnder({ kind: "hang" });
    // 32 blocks of 50 ms: long enough that the era is surely still open when the deadline has passed.
    const error = await failure(submitExtrinsic(api, tx, signer, { deadlineMs: 300, mortalBlocks: 32 }));
    expect(error).toBeInstanceOf(ExtrinsicInDoubt);
    const sent = (error as ExtrinsicInDoubt).sent;
    expect((error as ExtrinsicInDoubt).code).toBe("deadline-exceeded");
    expect(error.message).toMatch(/may still land until block/);
    expect((await extrinsicFate(api, sent)).state).toBe("pending");
    await untilBlock(sent.validUntil + 1);
    expect(await extrinsicFate(api, sent)).toMatchObject({ state: "lost" });
  });

  it("dropped but kept by another node: in doubt, then found landed (so resending would have doubled it)", async () => {
    const { signer, tx } = remarkUnder({ kind: "drop", landAfterBlocks: 3 });
    const error = await failure(submitExtrinsic(api, tx, signer, { mortalBlocks: 16 }));
    expect(error).toBeInstanceOf(ExtrinsicInDoubt);
    expect((error as ExtrinsicInDoubt).lastStatus).toBe("Dropped");
    const sent = (error as ExtrinsicInDoubt).sent;
    await untilBlock(sent.validUntil + 1);
    expect((await extrinsicFate(api, sent)).state).toBe("landed");
  });

  it("invalid is in doubt (it may be invalid because it landed); here it never does", async () => {
    const { signer, tx } = remarkUnder({ kind: "invalid" });
    const error = await failure(submitExtrinsic(api, tx, signer, { mortalBlocks: 8 }));
    expect(error).toBeInstanceOf(ExtrinsicInDoubt);
    const sent = (error as ExtrinsicInDoubt).sent;
    await untilBlock(sent.validUntil + 1);
    expect((await extrinsicFate(api, sent)).state).toBe("lost");
  });

  it("usurped will never land", async () => {
    const { signer, tx } = remarkUnder({ kind: "usurp" });
    expect(await failure(submitExtrinsic(api, tx, signer))).toBeInstanceOf(ExtrinsicNotLanded);
  });

  it("finality timeout is in doubt and turns out landed; retracted keeps waiting and finalizes", async () => {
    const timeout = remarkUnder({ kind: "finalityTimeout" });
    const error = await failure(submitExtrinsic(api, timeout.tx, timeout.signer));
    expect(error).toBeInstanceOf(ExtrinsicInDoubt);
    expect((error as ExtrinsicInDoubt).lastStatus).toBe("FinalityTimeout");
    expect((await extrinsicFate(api, (error as ExtrinsicInDoubt).sent)).state).toBe("landed");
    const retract = remarkUnder({ kind: "retract" });
    expect((await submitExtrinsic(api, retract.tx, retract.signer)).number).toBeGreaterThan(0);
  });

  it("cancelling while it is watched leaves it in doubt, not forgotten", async () => {
    const { signer, tx } = remarkUnder({ kind: "delay", blocks: 4 });
    const stop = new AbortController();
    // Cancelled at its first status: the node holds it and the submitter watches it.
    const error = await failure(
      submitExtrinsic(api, tx, signer, { signal: stop.signal, onStatus: () => stop.abort() }),
    );
    expect(error).toBeInstanceOf(ExtrinsicInDoubt);
    expect((error as ExtrinsicInDoubt).code).toBe("cancelled");
    const sent = (error as ExtrinsicInDoubt).sent;
    await untilBlock(sent.validUntil + 1);
    expect((await extrinsicFate(api, sent)).state).toBe("landed");
  });

  it("cancelling while it is being signed sends nothing and is no doubt", async () => {
    const { signer, tx } = remarkUnder();
    const stop = new AbortController();
    const signed: SentExtrinsic[] = [];
    const pending = failure(
      submitExtrinsic(api, tx, signer, { signal: stop.signal, onSigned: (s) => signed.push(s) }),
    );
    // Runs once submitExtrinsic has passed its first check and awaits the nonce and the signature.
    queueMicrotask(() => stop.abort());
    const error = await pending;
    expect(error).not.toBeInstanceOf(ExtrinsicInDoubt);
    expect((error as CacheonError).code).toBe("cancelled");
    expect(error.message).toMatch(/never sent/);
    expect(signed).toEqual([]);
    const nonce = (await api.rpc.system.accountNextIndex(signer.address)).toNumber();
    expect(nonce).toBe(0);
  });
});
