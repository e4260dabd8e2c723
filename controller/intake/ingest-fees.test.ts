import { describe, expect, it } from "vitest";
import type { FeeVerdict } from "../fees/fee-decision.ts";
import { openStore } from "../store/controller-store.ts";
import { type CommitmentEntry, type FeeCheck, ingestCommitments } from "./ingest-commitments.ts";

// Intake with the submission fee check, on plain data (the devnet test in controller/fees covers
// the chain): unpaid commitments are recorded with the reason and own nothing; an undecidable one
// waits without touching the hotkey's previous submission.

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const ref = (repo: string, c: string) => `127.0.0.1:5000/${repo}:v1@${digest(c)}`;
const entry = (hotkey: string, uid: number, raw: string, commitBlock: number): CommitmentEntry => ({
  hotkey,
  uid,
  raw,
  commitBlock,
});

function fees(verdicts: Record<string, FeeVerdict>): FeeCheck & { consumed: [string, string][] } {
  const consumed: [string, string][] = [];
  return {
    consumed,
    decide: (c) => verdicts[c.hotkey] ?? { kind: "unpaid", reason: "unpaid: no fee" },
    consume: (paymentId, submissionId) => {
      if (consumed.some(([p]) => p === paymentId)) return false;
      consumed.push([paymentId, submissionId]);
      return true;
    },
  };
}

describe("ingestCommitments with the fee check", () => {
  it("records unpaid commitments with the reason; a paid copy of an unpaid digest is not a copy", () => {
    const store = openStore({ path: ":memory:" });
    const check = fees({ bob: { kind: "paid", paymentId: "9-1", reason: "paid" } });
    const s = ingestCommitments({
      store,
      fees: check,
      snapshot: {
        block: 20,
        entries: [entry("eve", 5, ref("eve/x", "a"), 10), entry("bob", 2, ref("bob/x", "a"), 12)],
      },
    });
    expect(s.unpaid).toEqual(["sub-1"]);
    expect(store.submissions.get("sub-1")).toMatchObject({
      hotkey: "eve",
      state: "unpaid",
      reason: "unpaid: no fee",
    });
    expect(s.pending).toEqual(["sub-2"]);
    expect(store.submissions.get("sub-2")?.state).toBe("pending");
    expect(check.consumed).toEqual([["9-1", "sub-2"]]);
    // Nothing changes on the same snapshot.
    expect(
      ingestCommitments({
        store,
        fees: check,
        snapshot: {
          block: 20,
          entries: [entry("eve", 5, ref("eve/x", "a"), 10), entry("bob", 2, ref("bob/x", "a"), 12)],
        },
      }).unpaid,
    ).toEqual([]);
  });

  it("a payment the ledger says is already used does not pay twice", () => {
    const store = openStore({ path: ":memory:" });
    const check = fees({
      bob: { kind: "paid", paymentId: "9-1", reason: "paid" },
      carol: { kind: "paid", paymentId: "9-1", reason: "paid" },
    });
    ingestCommitments({
      store,
      fees: check,
      snapshot: {
        block: 20,
        entries: [entry("bob", 2, ref("bob/x", "b"), 12), entry("carol", 3, ref("carol/x", "c"), 13)],
      },
    });
    expect(store.submissions.list().map((s) => [s.hotkey, s.state])).toEqual([
      ["bob", "pending"],
      ["carol", "unpaid"],
    ]);
    expect(store.submissions.get("sub-2")?.reason).toMatch(/already paid for another submission/);
  });

  it("a commitment the ledger cannot decide yet waits, keeping the hotkey's previous submission", () => {
    const store = openStore({ path: ":memory:" });
    const paid = fees({ bob: { kind: "paid", paymentId: "9-1", reason: "paid" } });
    ingestCommitments({
      store,
      fees: paid,
      snapshot: { block: 20, entries: [entry("bob", 2, ref("bob/x", "b"), 12)] },
    });
    const waiting = fees({ bob: { kind: "wait", reason: "the ledger has read up to 29" } });
    const s = ingestCommitments({
      store,
      fees: waiting,
      snapshot: { block: 30, entries: [entry("bob", 2, ref("bob/y", "c"), 30)] },
    });
    expect(s).toMatchObject({ pending: [], unpaid: [], superseded: [], deregistered: [] });
    expect(store.submissions.list().map((r) => [r.id, r.state])).toEqual([["sub-1", "pending"]]);
  });
});
