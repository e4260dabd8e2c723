import { u8aToHex } from "@polkadot/util";
import { describe, expect, it } from "vitest";
import type { BlockRecord, CallRecord, ExtrinsicOutcome } from "../chain/block-reader.ts";
import { blockMayPay, feeItems, pairTransfer } from "./fee-payments.ts";
import { formatFeeRemark } from "./fee-remark.ts";

const fees = "5EqhUbzHCvUynKgdeC9nNzWNrcDhgcnvwCi4DzocnhFL9AT7";
const bob = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const eve = "5HGjWAeFDfFCWPsjFQdVV2Msvz2XtMktvgocEZcCj68kUMaw";
const text = formatFeeRemark(1, bob, `sha256:${"ab".repeat(32)}`);

const call = (
  section: string,
  method: string,
  args: unknown[],
  atomic = true,
  path: number[] = [],
): CallRecord => ({
  section,
  method,
  args,
  path,
  atomic,
});
const transfer = (to = fees, atomic = true) =>
  call("balances", "transferKeepAlive", [{ id: to }, 100], atomic, [0]);
const remark = (t = text, atomic = true) =>
  call("system", "remark", [u8aToHex(new TextEncoder().encode(t))], atomic, [1]);
const batch = (method: string) => call("utility", method, []);

function block(extrinsics: { signer: string; nonce: number; calls: CallRecord[] }[]): BlockRecord {
  return {
    number: 7,
    hash: "0x07",
    extrinsics: extrinsics.map((x, index) => ({ ...x, index, hash: `0x${index}` })),
  };
}

function outcomes(...list: [success: boolean, transfers: [from: string, to: string, amount: number][]][]) {
  return new Map<number, ExtrinsicOutcome>(
    list.map(([success, transfers], i) => [
      i,
      {
        success,
        events: transfers.map(([from, to, amount]) => ({
          name: "balances.Transfer",
          data: [from, to, amount],
        })),
      },
    ]),
  );
}

describe("feeItems", () => {
  it("a batch_all with a transfer to the fee account and a fee remark is a payment", () => {
    const b = block([{ signer: bob, nonce: 3, calls: [batch("batchAll"), transfer(), remark()] }]);
    expect(blockMayPay(b, fees)).toBe(true);
    const items = feeItems(b, outcomes([true, [[bob, fees, 100]]]), fees);
    expect(items.payments).toMatchObject([{ id: "7-0", payer: bob, amount: 100n, remarkText: text }]);
  });

  it("a failed extrinsic pays nothing; money proven only by Transfer events of the signer", () => {
    const b = block([
      { signer: bob, nonce: 3, calls: [batch("batchAll"), transfer(), remark()] },
      { signer: bob, nonce: 4, calls: [batch("batchAll"), transfer(), remark()] },
    ]);
    const items = feeItems(b, outcomes([false, []], [true, [[eve, fees, 100]]]), fees);
    expect(items.payments).toEqual([]);
    expect(items.remarks).toHaveLength(1);
  });

  it("a remark inside a non-atomic batch may not have run: it names nothing", () => {
    const b = block([
      { signer: bob, nonce: 3, calls: [batch("batch"), transfer(fees, false), remark(text, false)] },
    ]);
    const items = feeItems(b, outcomes([true, [[bob, fees, 100]]]), fees);
    expect(items.payments).toEqual([]);
    expect(items.transfers).toMatchObject([{ payer: bob, nonce: 3, amount: 100n }]);
  });

  it("a transfer pairs with its payer's next transaction's remark only", () => {
    const b = block([
      { signer: bob, nonce: 3, calls: [transfer()] },
      { signer: eve, nonce: 9, calls: [remark()] },
      { signer: bob, nonce: 4, calls: [remark()] },
    ]);
    const items = feeItems(b, outcomes([true, [[bob, fees, 100]]], [true, []], [true, []]), fees);
    const [t] = items.transfers;
    const [fromEve, fromBob] = items.remarks;
    if (!t || !fromEve || !fromBob) throw new Error("items missing");
    expect(pairTransfer(t, fromEve)).toBeUndefined();
    expect(pairTransfer(t, fromBob)).toMatchObject({ id: "7-2", payer: bob, amount: 100n });
    expect(pairTransfer(t, { ...fromBob, nonce: 5 })).toBeUndefined();
  });

  it("transfers elsewhere and ordinary remarks are not fee items", () => {
    const b = block([{ signer: bob, nonce: 3, calls: [batch("batchAll"), transfer(eve), remark("hello")] }]);
    expect(blockMayPay(b, fees)).toBe(false);
    expect(feeItems(b, outcomes([true, [[bob, eve, 100]]]), fees)).toEqual({
      payments: [],
      transfers: [],
      remarks: [],
    });
  });
});
