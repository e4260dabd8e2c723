import type { ChainStorage } from "../chain/chain-storage.ts";
import { burnIssuance, canWithdraw, withdraw } from "./balance-ledger.ts";
import type { RuntimeEvent } from "./pallet.ts";

// The devnet's fee model, simpler than finney's weight-to-fee curve but charged the same way:
// every signed extrinsic pays `baseFee + byteFee x its encoded length` (rao), withdrawn from the
// signer before the call runs and kept whether the call succeeds or fails; the account must stay
// alive after paying (a fee never reaps it). Fees are burned (issuance falls). The same figure is
// what payment_queryInfo and TransactionPaymentApi_query_info quote. Unlike finney, subtensor's
// fee-free calls (set_weights and friends are Pays::No there) pay too: on the devnet every signed
// extrinsic costs something, so "can this account pay?" is always exercised.

/** Rao every extrinsic pays. */
export const baseFee = 100_000n;
/** Rao per byte of the encoded extrinsic. */
export const byteFee = 1_000n;

/** The fee of an extrinsic of `length` encoded bytes (rao). */
export function feeFor(length: number): bigint {
  return baseFee + byteFee * BigInt(length);
}

/** Whether `who` can pay the fee of an extrinsic of `length` bytes and stay alive. */
export function canPayFee(storage: ChainStorage, who: string, length: number): boolean {
  return canWithdraw(storage, who, feeFor(length), true).ok;
}

/**
 * Withdraws the fee (Balances.Withdraw) before dispatch; undefined when the signer cannot pay
 * (the pool then drops the extrinsic as Payment-invalid). `paid` is the event the runtime
 * deposits after the call (TransactionPayment.TransactionFeePaid).
 */
export function chargeFee(
  storage: ChainStorage,
  who: string,
  length: number,
): { before: RuntimeEvent[]; after: RuntimeEvent[]; fee: bigint } | undefined {
  const fee = feeFor(length);
  const taken = withdraw(storage, who, fee, true);
  if (!taken.ok) return undefined;
  burnIssuance(storage, fee);
  return {
    fee,
    before: [{ section: "balances", method: "Withdraw", data: [who, fee.toString()] }],
    after: [
      { section: "transactionPayment", method: "TransactionFeePaid", data: [who, fee.toString(), "0"] },
    ],
  };
}
