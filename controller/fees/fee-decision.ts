import type { FeePayment } from "./fee-payments.ts";
import { remarkNames } from "./fee-remark.ts";

// Whether a submission paid its fee. A payment pays for the submission whose hotkey, subnet and
// image digest its remark names, when it was completed in the commitment's block or within
// `windowBlocks` before it (a sealed-form remark, made when a timelocked commitment was sealed, may
// be up to `revealBlocks` older: the commitment's block seen here is its reveal's), carries at
// least the fee, and has not paid for another submission: one payment pays one commitment, so
// paying once and committing twice leaves the second unpaid. Anyone may pay for a hotkey: the
// remark binds the payment to that hotkey's commitment of that digest, so paying for someone else
// only gives money away. What the ledger could not read (before its first block, or a gap where
// the node had pruned the events) cannot be checked and counts as unpaid (fail closed). Pure.

/** The fee rule. */
export interface FeePolicy {
  /** Rao a submission costs. */
  amount: bigint;
  /** The account fees are paid to (SS58). */
  destination: string;
  /** Blocks before the commitment a payment may be completed in (0 = the same block only). */
  windowBlocks: number;
  /** Extra blocks allowed for a sealed-form payment (a timelocked commitment is seen at its reveal). */
  revealBlocks: number;
}

/** A stored payment: a FeePayment and the submission it paid for, if any. */
export type LedgerPayment = FeePayment & { consumedBy: string | null };

/** What the fee ledger has read. */
export interface LedgerCoverage {
  /** First and last finalized block read (from > to: nothing yet). */
  from: number;
  to: number;
  /** Blocks inside it whose events could not be read. */
  gaps: { from: number; to: number; reason: string }[];
}

/** The submission whose fee is checked. */
export interface FeeCandidate {
  submissionId: string;
  netuid: number;
  hotkey: string;
  /** "sha256:<hex>" */
  digest: string;
  commitBlock: number;
}

/** The answer: paid (by which payment), unpaid (why, and what to do), or not yet decidable. */
export type FeeVerdict =
  | { kind: "paid"; paymentId: string; reason: string }
  | { kind: "unpaid"; reason: string }
  | { kind: "wait"; reason: string };

/** Decides whether the candidate paid, from every stored payment naming its hotkey. */
export function decideFee(
  candidate: FeeCandidate,
  payments: readonly LedgerPayment[],
  coverage: LedgerCoverage,
  policy: FeePolicy,
): FeeVerdict {
  const c = candidate.commitBlock;
  if (coverage.to < c)
    return {
      kind: "wait",
      reason: `the fee ledger has read blocks up to ${coverage.to}; the commitment is at ${c}`,
    };
  const fix = `Commit again with \`cacheon-miner commit --fee\`: it pays ${tao(policy.amount)} TAO to ${policy.destination} with the remark naming your hotkey and digest, in the commitment's own extrinsic.`;
  const window = (p: LedgerPayment) =>
    policy.windowBlocks + (p.remark.digest === undefined ? policy.revealBlocks : 0);
  const naming = payments
    .filter((p) => remarkNames(p.remark, candidate.netuid, candidate.hotkey, candidate.digest))
    .sort((a, b) => a.block - b.block || a.extrinsicIndex - b.extrinsicIndex);
  const inWindow = naming.filter((p) => p.block <= c && p.block >= c - window(p));
  const mine = inWindow.find((p) => p.consumedBy === candidate.submissionId);
  if (mine) return { kind: "paid", paymentId: mine.id, reason: paidReason(mine) };
  const usable = inWindow.find((p) => p.consumedBy === null && p.amount >= policy.amount);
  if (usable) return { kind: "paid", paymentId: usable.id, reason: paidReason(usable) };
  const short = inWindow.find((p) => p.consumedBy === null);
  if (short)
    return {
      kind: "unpaid",
      reason: `unpaid: the fee paid at block ${short.block} was ${tao(short.amount)} TAO, less than ${tao(policy.amount)} TAO. ${fix}`,
    };
  const spent = inWindow.find((p) => p.consumedBy !== null);
  if (spent)
    return {
      kind: "unpaid",
      reason: `unpaid: the fee paid at block ${spent.block} already paid for submission ${spent.consumedBy} (one payment pays for one commitment). ${fix}`,
    };
  const late = naming.find((p) => p.block > c);
  if (late)
    return {
      kind: "unpaid",
      reason: `unpaid: the fee was paid at block ${late.block}, after the commitment (block ${c}); it must be paid before the commitment or in its block. ${fix}`,
    };
  const early = naming.at(-1);
  if (early)
    return {
      kind: "unpaid",
      reason: `unpaid: the fee was paid at block ${early.block}, ${c - early.block} blocks before the commitment (block ${c}); at most ${window(early)} are allowed. ${fix}`,
    };
  // Block 0 (genesis) holds no extrinsics: nothing before block 1 needs reading.
  const start = Math.max(1, c - policy.windowBlocks - policy.revealBlocks);
  if (coverage.from > start)
    return {
      kind: "unpaid",
      reason: `unpaid: no fee found, and blocks ${start}-${coverage.from - 1} before the commitment were never read by this validator's fee ledger (it started later), so a payment there cannot be verified. ${fix}`,
    };
  const gap = coverage.gaps.find((g) => g.to >= start && g.from <= c);
  if (gap)
    return {
      kind: "unpaid",
      reason: `unpaid: no fee found, and blocks ${gap.from}-${gap.to} could not be read (${gap.reason}), so a payment there cannot be verified. ${fix}`,
    };
  return {
    kind: "unpaid",
    reason: `unpaid: no submission fee names hotkey ${candidate.hotkey} and digest ${candidate.digest} in blocks ${c - policy.windowBlocks}-${c}. ${fix}`,
  };
}

function paidReason(p: LedgerPayment): string {
  return `fee of ${tao(p.amount)} TAO paid at block ${p.block} by ${p.payer}`;
}

/** Rao as TAO, without trailing zeros. */
export function tao(rao: bigint): string {
  const whole = rao / 1_000_000_000n;
  const frac = (rao % 1_000_000_000n).toString().padStart(9, "0").replace(/0+$/, "");
  return frac ? `${whole}.${frac}` : `${whole}`;
}
