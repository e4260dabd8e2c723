import { hexToU8a, isHex } from "@polkadot/util";
import type { BlockRecord, CallRecord, ExtrinsicOutcome } from "../chain/block-reader.ts";
import { type FeeRemark, parseFeeRemark } from "./fee-remark.ts";

// What one finalized block holds of submission fees. A fee is paid by a transfer to the fee
// account and named by a fee remark of the same payer, either in the same extrinsic (batch_all:
// both ran, or neither) or as the payer's very next transaction (nonce + 1: nothing of theirs can
// come between). Only successful extrinsics count, only Balances.Transfer events prove money moved
// (a failed transfer emits none), and a remark counts only where it surely ran (the extrinsic's own
// call, or inside batch_all). Someone else's remark never names your payment: remarks pair with
// transfers of the same signer only. Pure.

/** A complete fee payment: money to the fee account and the remark naming what it pays for. */
export interface FeePayment {
  /** "<block>-<extrinsic index>" of the extrinsic that completed it (its remark's). */
  id: string;
  block: number;
  extrinsicIndex: number;
  payer: string;
  destination: string;
  /** Rao transferred to the fee account. */
  amount: bigint;
  remark: FeeRemark;
  remarkText: string;
}

/** A transfer to the fee account whose remark has not come (yet): it may be the payer's next transaction. */
export interface PendingTransfer {
  id: string;
  block: number;
  extrinsicIndex: number;
  payer: string;
  nonce: number;
  destination: string;
  amount: bigint;
}

/** A fee remark without a transfer in its own extrinsic: it completes the payer's transfer of nonce - 1. */
export interface LoneRemark {
  block: number;
  extrinsicIndex: number;
  payer: string;
  nonce: number;
  remark: FeeRemark;
  remarkText: string;
}

/** Whether the block needs its events read: some extrinsic moves money to `destination` or carries a fee remark. */
export function blockMayPay(block: BlockRecord, destination: string): boolean {
  return block.extrinsics.some((x) =>
    x.calls.some((c) => isTransferTo(c, destination) || feeRemark(c) !== undefined),
  );
}

/** The fee items of a block, given what each extrinsic did. */
export function feeItems(
  block: BlockRecord,
  outcomes: ReadonlyMap<number, ExtrinsicOutcome>,
  destination: string,
): { payments: FeePayment[]; transfers: PendingTransfer[]; remarks: LoneRemark[] } {
  const payments: FeePayment[] = [];
  const transfers: PendingTransfer[] = [];
  const remarks: LoneRemark[] = [];
  for (const x of block.extrinsics) {
    const outcome = outcomes.get(x.index);
    if (!outcome?.success) continue;
    const amount = outcome.events
      .filter((e) => e.name === "balances.Transfer" && e.data[0] === x.signer && e.data[1] === destination)
      .reduce((sum, e) => sum + BigInt(e.data[2] as number | string), 0n);
    // The first fee remark that surely ran names the payment; one payment pays for one thing.
    const named = x.calls
      .filter((c) => c.atomic)
      .map((c) => ({ remark: feeRemark(c), text: remarkText(c) }))
      .find((r) => r.remark !== undefined);
    const id = `${block.number}-${x.index}`;
    const where = { block: block.number, extrinsicIndex: x.index, payer: x.signer };
    if (amount > 0n && named?.remark)
      payments.push({ id, ...where, destination, amount, remark: named.remark, remarkText: named.text });
    else if (amount > 0n) transfers.push({ id, ...where, nonce: x.nonce, destination, amount });
    else if (named?.remark)
      remarks.push({ ...where, nonce: x.nonce, remark: named.remark, remarkText: named.text });
  }
  return { payments, transfers, remarks };
}

/** A payment from a transfer and the payer's next transaction's remark. */
export function pairTransfer(transfer: PendingTransfer, remark: LoneRemark): FeePayment | undefined {
  if (transfer.payer !== remark.payer || remark.nonce !== transfer.nonce + 1) return undefined;
  return {
    id: `${remark.block}-${remark.extrinsicIndex}`,
    block: remark.block,
    extrinsicIndex: remark.extrinsicIndex,
    payer: transfer.payer,
    destination: transfer.destination,
    amount: transfer.amount,
    remark: remark.remark,
    remarkText: remark.remarkText,
  };
}

function isTransferTo(call: CallRecord, destination: string): boolean {
  if (call.section !== "balances" || !call.method.startsWith("transfer")) return false;
  const dest = call.args[0] as { id?: string } | string | undefined;
  return (typeof dest === "object" && dest?.id === destination) || dest === destination;
}

function remarkText(call: CallRecord): string {
  if (call.section !== "system" || (call.method !== "remark" && call.method !== "remarkWithEvent")) return "";
  const bytes = call.args[0];
  if (typeof bytes !== "string" || !isHex(bytes)) return "";
  return new TextDecoder("utf-8", { fatal: false }).decode(hexToU8a(bytes));
}

function feeRemark(call: CallRecord): FeeRemark | undefined {
  const text = remarkText(call);
  return text ? parseFeeRemark(text) : undefined;
}
