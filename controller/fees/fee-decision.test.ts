import { describe, expect, it } from "vitest";
import { decideFee, type FeePolicy, type LedgerCoverage, type LedgerPayment, tao } from "./fee-decision.ts";
import { formatFeeRemark, parseFeeRemark } from "./fee-remark.ts";

const bob = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const alice = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const d1 = `sha256:${"ab".repeat(32)}`;
const d2 = `sha256:${"cd".repeat(32)}`;
const policy: FeePolicy = { amount: 100_000_000n, destination: alice, windowBlocks: 10, revealBlocks: 50 };
const covered: LedgerCoverage = { from: 1, to: 1000, gaps: [] };
const candidate = { submissionId: "sub-9", netuid: 14, hotkey: bob, digest: d1, commitBlock: 500 };

function pay(
  block: number,
  options: Partial<LedgerPayment> & { sealed?: boolean; digest?: string } = {},
): LedgerPayment {
  const text = formatFeeRemark(
    14,
    options.remark?.hotkey ?? bob,
    options.digest ?? d1,
    options.sealed ?? false,
  );
  const remark = parseFeeRemark(text);
  if (!remark) throw new Error("bad remark");
  return {
    id: `${block}-1`,
    block,
    extrinsicIndex: 1,
    payer: bob,
    destination: alice,
    amount: 100_000_000n,
    remark,
    remarkText: text,
    consumedBy: null,
    ...options,
  } as LedgerPayment;
}

describe("decideFee", () => {
  it.each<[string, LedgerPayment[], LedgerCoverage, string, RegExp]>([
    ["paid in the commitment's block", [pay(500)], covered, "paid", /paid at block 500/],
    ["paid within the window", [pay(490)], covered, "paid", /paid at block 490/],
    [
      "paid a block too early",
      [pay(489)],
      covered,
      "unpaid",
      /11 blocks before the commitment \(block 500\); at most 10/,
    ],
    [
      "a sealed remark may be older (a timelocked commitment is seen at its reveal)",
      [pay(445, { sealed: true })],
      covered,
      "paid",
      /445/,
    ],
    ["even sealed, not forever", [pay(439, { sealed: true })], covered, "unpaid", /at most 60 are allowed/],
    [
      "paid after the commitment",
      [pay(501)],
      covered,
      "unpaid",
      /paid at block 501, after the commitment \(block 500\)/,
    ],
    [
      "underpaid",
      [pay(495, { amount: 50_000_000n })],
      covered,
      "unpaid",
      /was 0\.05 TAO, less than 0\.1 TAO/,
    ],
    [
      "pay once, commit twice: the payment already paid for another submission",
      [pay(495, { consumedBy: "sub-3" })],
      covered,
      "unpaid",
      /already paid for submission sub-3 \(one payment pays for one commitment\)/,
    ],
    [
      "a payment for another digest",
      [pay(495, { digest: d2 })],
      covered,
      "unpaid",
      /no submission fee names hotkey/,
    ],
    [
      "two payments: the unused one pays",
      [pay(492, { consumedBy: "sub-3" }), pay(495, { id: "495-2" })],
      covered,
      "paid",
      /495/,
    ],
    [
      "nothing paid",
      [],
      covered,
      "unpaid",
      /no submission fee names hotkey .* in blocks 490-500\. Commit again with `cacheon-miner commit --fee`/,
    ],
    [
      "the ledger started after the window: cannot be verified (fail closed)",
      [],
      { from: 480, to: 1000, gaps: [] },
      "unpaid",
      /blocks 440-479 before the commitment were never read/,
    ],
    [
      "a gap in the window: cannot be verified (fail closed)",
      [],
      { from: 1, to: 1000, gaps: [{ from: 495, to: 496, reason: "state pruned" }] },
      "unpaid",
      /blocks 495-496 could not be read \(state pruned\)/,
    ],
    [
      "the ledger has not read the commitment's block",
      [pay(500)],
      { from: 1, to: 499, gaps: [] },
      "wait",
      /read blocks up to 499/,
    ],
  ])("%s", (_name, payments, coverage, kind, reason) => {
    const verdict = decideFee(candidate, payments, coverage, policy);
    expect(verdict.kind).toBe(kind);
    expect(verdict.reason).toMatch(reason);
  });

  it("a payment a submission already used stays its own (intake is idempotent)", () => {
    const verdict = decideFee(candidate, [pay(495, { consumedBy: "sub-9" })], covered, policy);
    expect(verdict).toMatchObject({ kind: "paid", paymentId: "495-1" });
  });

  it("prints rao as TAO", () => {
    expect([tao(100_000_000n), tao(1_000_000_000n), tao(1n), tao(12_345_000_000n)]).toEqual([
      "0.1",
      "1",
      "0.000000001",
      "12.345",
    ]);
  });
});
