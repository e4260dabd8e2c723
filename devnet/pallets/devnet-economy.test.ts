import { ApiPromise, Keyring, WsProvider } from "@polkadot/api";
import type { SubmittableExtrinsic } from "@polkadot/api/types";
import type { KeyringPair } from "@polkadot/keyring/types";
import type { DispatchError, EventRecord } from "@polkadot/types/interfaces";
import type { Codec } from "@polkadot/types/types";
import { blake2AsHex, cryptoWaitReady } from "@polkadot/util-crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Devnet, startDevnet } from "../devnet.ts";
import { endowOperation, replaceNeuronOperation } from "./admin-operations.ts";
import { feeFor } from "./transaction-payment.ts";

// The devnet's economy through a plain @polkadot/api client: balances and transfers with the
// existential deposit, fees charged, remarks, batch_all, burned registration and deregistration.
// Blocks are produced by the test (block time 0), so every assertion is about one known block.

const tao = 1_000_000_000n;
const ed = 500n;

let devnet: Devnet;
let api: ApiPromise;
let alice: KeyringPair;
let bob: KeyringPair;
let payer: KeyringPair;
let poor: KeyringPair;
let newcomer: KeyringPair;
let coldkey: KeyringPair;

beforeAll(async () => {
  await cryptoWaitReady();
  const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
  [alice, bob, payer, poor, newcomer, coldkey] = [
    "//Alice",
    "//Bob",
    "//Payer",
    "//Poor",
    "//Newcomer",
    "//Coldkey",
  ].map((u) => keyring.addFromUri(u)) as [
    KeyringPair,
    KeyringPair,
    KeyringPair,
    KeyringPair,
    KeyringPair,
    KeyringPair,
  ];
  devnet = await startDevnet({
    port: 0,
    blockTimeSeconds: 0,
    seed: {
      accounts: { "//Payer": 100 * 1_000_000_000, "//Poor": 1_000, "//Coldkey": 10 * 1_000_000_000 },
      subnets: [
        {
          netuid: 1,
          neurons: [{ hotkey: "//Alice", validatorPermit: true }, { hotkey: "//Bob" }],
        },
        {
          // Full: a registration replaces the non-immune neuron with the lowest emission.
          netuid: 2,
          maxAllowedUids: 3,
          immunityPeriod: 5,
          burn: 1_000_000_000,
          neurons: [
            { hotkey: "//Alice", validatorPermit: true, emission: 900 },
            { hotkey: "//Bob", emission: 100 },
            { hotkey: "//Charlie", emission: 50 },
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

interface Applied {
  events: { name: string; data: unknown[] }[];
  failed: string | undefined;
  fee: bigint;
  blockHash: string;
}

/** Signs, submits, produces one block and returns the extrinsic's events in it. */
async function apply(extrinsic: SubmittableExtrinsic<"promise">, signer: KeyringPair): Promise<Applied> {
  await extrinsic.signAsync(signer, { nonce: -1 });
  const hash = (await api.rpc.author.submitExtrinsic(extrinsic)).toHex();
  const block = devnet.produceBlock();
  const body = await api.rpc.chain.getBlock(block.hash);
  const index = body.block.extrinsics.findIndex((x) => x.hash.toHex() === hash);
  expect(index).toBeGreaterThanOrEqual(0);
  const records = await eventsAt(block.hash);
  const mine = records.filter(
    (r) => r.phase.isApplyExtrinsic && r.phase.asApplyExtrinsic.toNumber() === index,
  );
  const events = mine.map((r) => ({
    name: `${r.event.section}.${r.event.method}`,
    data: r.event.data.toJSON() as unknown[],
  }));
  const failedEvent = mine.find((r) => r.event.section === "system" && r.event.method === "ExtrinsicFailed");
  let failed: string | undefined;
  if (failedEvent) {
    const error = failedEvent.event.data[0] as DispatchError;
    failed = error.isModule
      ? (() => {
          const m = api.registry.findMetaError(error.asModule);
          return `${m.section}.${m.name}`;
        })()
      : error.toString();
  }
  const feeEvent = events.find((e) => e.name === "transactionPayment.TransactionFeePaid");
  return { events, failed, fee: BigInt(String(feeEvent?.data[1] ?? 0)), blockHash: block.hash };
}

/** A call of the real metadata (the project's @polkadot/api carries no chain-specific typings). */
function tx(name: string): (...args: unknown[]) => SubmittableExtrinsic<"promise"> {
  const [section, method] = name.split(".") as [string, string];
  const fn = api.tx[section]?.[method];
  if (!fn) throw new Error(`the metadata has no call ${name}`);
  return fn;
}

/** A storage value at the best block or at `at`. */
async function query(name: string, args: unknown[] = [], at?: string): Promise<Codec> {
  const [section, method] = name.split(".") as [string, string];
  const fn = (at ? (await api.at(at)).query : api.query)[section]?.[method];
  if (!fn) throw new Error(`the metadata has no storage ${name}`);
  return fn(...args);
}

async function eventsAt(hash: string): Promise<EventRecord[]> {
  return [...((await query("system.events", [], hash)) as unknown as EventRecord[])];
}

async function free(who: string, at?: string): Promise<bigint> {
  const account = (await query("system.account", [who], at)).toJSON() as { data: { free: number | string } };
  return BigInt(account.data.free);
}

async function providers(who: string): Promise<number> {
  return ((await query("system.account", [who])).toJSON() as { providers: number }).providers;
}

async function issuance(at: string): Promise<bigint> {
  return BigInt((await query("balances.totalIssuance", [], at)).toString());
}

describe("devnet balances and fees", () => {
  it("transfer_keep_alive moves the amount, charges the quoted fee and burns it", async () => {
    const call = tx("balances.transferKeepAlive")(bob.address, 2n * tao);
    const before = {
      payer: await free(payer.address),
      bob: await free(bob.address),
      issuance: await issuance(devnet.chain.best.hash),
    };
    const quoted = (await call.paymentInfo(payer)).partialFee.toBigInt();
    const r = await apply(call, payer);
    expect(r.failed).toBeUndefined();
    expect(r.fee).toBe(quoted);
    expect(r.fee).toBe(feeFor(call.encodedLength));
    expect(r.events.map((e) => e.name)).toEqual([
      "balances.Withdraw",
      "balances.Transfer",
      "transactionPayment.TransactionFeePaid",
      "system.ExtrinsicSuccess",
    ]);
    expect(await free(payer.address)).toBe(before.payer - 2n * tao - r.fee);
    expect(await free(bob.address)).toBe(before.bob + 2n * tao);
    expect(await issuance(r.blockHash)).toBe(before.issuance - r.fee);
  });

  it("refuses what would kill the sender (NotExpendable), a new account below ED (BelowMinimum) and overdrafts, keeping the fee", async () => {
    const balance = await free(payer.address);
    const probe = tx("balances.transferKeepAlive")(bob.address, balance);
    const fee = (await probe.paymentInfo(payer)).partialFee.toBigInt();
    // After the fee, this leaves 100 rao: below the existential deposit.
    const keep = await apply(tx("balances.transferKeepAlive")(bob.address, balance - fee - 100n), payer);
    expect(keep.failed).toBe('{"token":"NotExpendable"}');
    expect(await free(payer.address)).toBe(balance - keep.fee);
    const dust = await apply(tx("balances.transferKeepAlive")(newcomer.address, ed - 1n), payer);
    expect(dust.failed).toBe('{"token":"BelowMinimum"}');
    const over = await apply(tx("balances.transferAllowDeath")(bob.address, 10n ** 15n), payer);
    expect(over.failed).toBe('{"token":"FundsUnavailable"}');
    expect(await providers(newcomer.address)).toBe(0);
  });

  it("transfer_allow_death reaps a sender left below ED and endows a new account", async () => {
    const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
    const temp = keyring.addFromUri("//Temp");
    const endowed = await apply(tx("balances.transferKeepAlive")(temp.address, tao), payer);
    expect(endowed.events.map((e) => e.name)).toContain("balances.Endowed");
    expect(endowed.events.map((e) => e.name)).toContain("system.NewAccount");
    const call = tx("balances.transferAllowDeath")(newcomer.address, tao);
    const fee = (await call.paymentInfo(temp)).partialFee.toBigInt();
    // Everything but 100 rao (below ED) goes: the account is reaped, its dust lost.
    const all = tx("balances.transferAllowDeath")(newcomer.address, tao - fee - 100n);
    const r = await apply(all, temp);
    expect(r.failed).toBeUndefined();
    expect(r.events.map((e) => e.name)).toEqual(
      expect.arrayContaining(["balances.DustLost", "system.KilledAccount", "balances.Endowed"]),
    );
    expect(await providers(temp.address)).toBe(0);
  });

  it("refuses at the pool an extrinsic whose signer cannot pay the fee", async () => {
    const call = tx("system.remark")("0x01");
    await call.signAsync(poor, { nonce: -1 });
    await expect(api.rpc.author.submitExtrinsic(call)).rejects.toThrow(
      /1010: Invalid Transaction: Inability to pay some fees/,
    );
  });

  it("remark changes nothing but the fee; remark_with_event deposits Remarked(sender, blake2(remark))", async () => {
    const text = "cacheon-fee hello";
    const plain = await apply(tx("system.remark")(text), payer);
    expect(plain.events.map((e) => e.name)).toEqual([
      "balances.Withdraw",
      "transactionPayment.TransactionFeePaid",
      "system.ExtrinsicSuccess",
    ]);
    const withEvent = await apply(tx("system.remarkWithEvent")(text), payer);
    const remarked = withEvent.events.find((e) => e.name === "system.Remarked");
    expect(remarked?.data[1]).toBe(blake2AsHex(text));
  });

  it("batch_all applies every call or none", async () => {
    const digestRef = `x/y@sha256:${"cd".repeat(32)}`;
    const ok = await apply(
      tx("utility.batchAll")([
        tx("balances.transferKeepAlive")(payer.address, tao),
        tx("system.remark")("paid"),
        tx("commitments.setCommitment")(1, { fields: [{ [`Raw${digestRef.length}`]: digestRef }] }),
      ]),
      bob,
    );
    expect(ok.failed).toBeUndefined();
    expect(ok.events.map((e) => e.name)).toEqual([
      "balances.Withdraw",
      "balances.Transfer",
      "utility.ItemCompleted",
      "utility.ItemCompleted",
      "commitments.Commitment",
      "utility.ItemCompleted",
      "utility.BatchCompleted",
      "transactionPayment.TransactionFeePaid",
      "system.ExtrinsicSuccess",
    ]);
    const before = await free(bob.address);
    const other = `x/z@sha256:${"ef".repeat(32)}`;
    const bad = await apply(
      tx("utility.batchAll")([
        tx("commitments.setCommitment")(1, { fields: [{ [`Raw${other.length}`]: other }] }),
        tx("balances.transferKeepAlive")(payer.address, 10n ** 15n),
      ]),
      bob,
    );
    expect(bad.failed).toBe('{"token":"FundsUnavailable"}');
    expect(await free(bob.address)).toBe(before - bad.fee);
    const stored = (await query("commitments.commitmentOf", [1, bob.address])).toJSON() as { block: number };
    expect(stored.block).toBe((await api.rpc.chain.getHeader(ok.blockHash)).number.toNumber());
  });
});

describe("devnet registration and deregistration", () => {
  it("burned_register appends a neuron while there is room, burning the cost from the coldkey", async () => {
    const before = await free(coldkey.address);
    const r = await apply(tx("subtensorModule.burnedRegister")(1, newcomer.address), coldkey);
    expect(r.failed).toBeUndefined();
    const block = (await api.rpc.chain.getHeader(r.blockHash)).number.toNumber();
    expect(r.events.find((e) => e.name === "subtensorModule.NeuronRegistered")?.data).toEqual([
      1,
      2,
      newcomer.address,
    ]);
    expect((await query("subtensorModule.subnetworkN", [1])).toJSON()).toBe(3);
    expect((await query("subtensorModule.keys", [1, 2])).toString()).toBe(newcomer.address);
    expect((await query("subtensorModule.uids", [1, newcomer.address])).toJSON()).toBe(2);
    expect((await query("subtensorModule.blockAtRegistration", [1, 2])).toJSON()).toBe(block);
    expect((await query("subtensorModule.owner", [newcomer.address])).toString()).toBe(coldkey.address);
    expect(await free(coldkey.address)).toBe(before - 100_000_000n - r.fee);
    const again = await apply(tx("subtensorModule.burnedRegister")(1, newcomer.address), coldkey);
    expect(again.failed).toBe("subtensorModule.HotKeyAlreadyRegisteredInSubNet");
    const other = await apply(tx("subtensorModule.burnedRegister")(1, newcomer.address), payer);
    expect(other.failed).toBe("subtensorModule.HotKeyAlreadyRegisteredInSubNet");
    const broke = await apply(tx("subtensorModule.burnedRegister")(2, payer.address), newcomer);
    expect(broke.failed).toBe("subtensorModule.NotEnoughBalanceToStake");
  });

  it("on a full subnet the new hotkey takes the uid of the lowest-emission neuron out of immunity", async () => {
    const charlie = (await query("subtensorModule.keys", [2, 2])).toString();
    const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
    const joiner = keyring.addFromUri("//Joiner");
    const r = await apply(tx("subtensorModule.burnedRegister")(2, joiner.address), coldkey);
    expect(r.failed).toBeUndefined();
    expect(r.events.find((e) => e.name === "subtensorModule.NeuronRegistered")?.data).toEqual([
      2,
      2,
      joiner.address,
    ]);
    expect((await query("subtensorModule.subnetworkN", [2])).toJSON()).toBe(3);
    expect((await query("subtensorModule.keys", [2, 2])).toString()).toBe(joiner.address);
    expect((await query("subtensorModule.uids", [2, charlie])).isEmpty).toBe(true);
    expect((await query("subtensorModule.isNetworkMember", [charlie, 2])).toJSON()).toBe(false);
    // The joiner is immune now: the next registration prunes Bob (emission 100), not the joiner (0).
    const next = keyring.addFromUri("//Next");
    const r2 = await apply(tx("subtensorModule.burnedRegister")(2, next.address), coldkey);
    expect(r2.events.find((e) => e.name === "subtensorModule.NeuronRegistered")?.data).toEqual([
      2,
      1,
      next.address,
    ]);
    expect((await query("subtensorModule.uids", [2, bob.address])).isEmpty).toBe(true);
  });

  it("allows one registration per block (TooManyRegistrationsThisBlock) and resets the count each block", async () => {
    const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
    const [a, b] = [keyring.addFromUri("//RegA"), keyring.addFromUri("//RegB")];
    const first = tx("subtensorModule.burnedRegister")(1, a.address);
    const second = tx("subtensorModule.burnedRegister")(1, b.address);
    await first.signAsync(coldkey, { nonce: -1 });
    await api.rpc.author.submitExtrinsic(first);
    await second.signAsync(coldkey, { nonce: -1 });
    await api.rpc.author.submitExtrinsic(second);
    const block = devnet.produceBlock();
    const records = await eventsAt(block.hash);
    const outcomes = records
      .filter((r) => r.event.section === "system" && r.event.method.startsWith("Extrinsic"))
      .map((r) => r.event.method);
    expect(outcomes).toEqual(["ExtrinsicSuccess", "ExtrinsicFailed"]);
    const retry = await apply(tx("subtensorModule.burnedRegister")(1, b.address), coldkey);
    expect(retry.failed).toBeUndefined();
  });

  it("an operator can hand a uid to a new hotkey (deregistering the old one) and fund an account", async () => {
    const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
    const stranger = keyring.addFromUri("//Taker");
    const applied = devnet.chain.scheduleAdmin(replaceNeuronOperation(1, 1, stranger.address));
    const funded = devnet.chain.scheduleAdmin(endowOperation(stranger.address, 5n * tao));
    const block = devnet.produceBlock();
    expect((await applied).hash).toBe(block.hash);
    await funded;
    const at = block.hash;
    expect((await query("subtensorModule.keys", [1, 1], at)).toString()).toBe(stranger.address);
    expect((await query("subtensorModule.uids", [1, bob.address], at)).isEmpty).toBe(true);
    expect((await query("subtensorModule.blockAtRegistration", [1, 1], at)).toJSON()).toBe(block.number);
    expect(await free(stranger.address, block.hash)).toBe(5n * tao);
    const records = await eventsAt(block.hash);
    expect(
      records.filter((r) => r.phase.isInitialization).map((r) => `${r.event.section}.${r.event.method}`),
    ).toEqual(["subtensorModule.NeuronRegistered", "system.NewAccount", "balances.Endowed"]);
    // A bad operation is refused when its block is built, and changes nothing.
    const refused = devnet.chain.scheduleAdmin(replaceNeuronOperation(1, 99, alice.address));
    const next = devnet.produceBlock();
    await expect(refused).rejects.toThrow(/uid 99 does not exist on subnet 1/);
    expect((await query("subtensorModule.keys", [1, 1], next.hash)).toString()).toBe(stranger.address);
  });
});
