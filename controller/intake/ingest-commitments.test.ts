import { describe, expect, it } from "vitest";
import { openStore } from "../store/controller-store.ts";
import { type CommitmentEntry, ingestCommitments } from "./ingest-commitments.ts";

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const ref = (repo: string, c: string) => `127.0.0.1:5000/${repo}:v1@${digest(c)}`;
const entry = (hotkey: string, uid: number, raw: string, commitBlock: number): CommitmentEntry => ({
  hotkey,
  uid,
  raw,
  commitBlock,
});

describe("ingestCommitments", () => {
  it("turns commitments into pending submissions, once", () => {
    const store = openStore({ path: ":memory:" });
    const snapshot = {
      block: 20,
      entries: [
        entry("bob", 2, ref("bob/fast", "b"), 12),
        entry("alice", 1, `  ${ref("alice/x", "a")}\n`, 10),
      ],
    };
    const first = ingestCommitments({ store, snapshot });
    expect(first.pending).toEqual(["sub-1", "sub-2"]);
    expect(store.submissions.get("sub-1")).toMatchObject({
      hotkey: "alice",
      state: "pending",
      digest: digest("a"),
      image: ref("alice/x", "a"),
    });
    const again = ingestCommitments({ store, snapshot });
    expect(again).toEqual({
      block: 20,
      pending: [],
      copies: [],
      malformed: [],
      superseded: [],
      deregistered: [],
    });
    expect(store.submissions.list()).toHaveLength(2);
  });

  it("records the same digest from a later hotkey as a copy at once; the earliest commit owns it", () => {
    const store = openStore({ path: ":memory:" });
    const s = ingestCommitments({
      store,
      snapshot: {
        block: 30,
        entries: [entry("carol", 3, ref("carol/copy", "a"), 25), entry("alice", 1, ref("alice/x", "a"), 10)],
      },
    });
    expect(s.copies).toEqual(["sub-2"]);
    expect(store.submissions.get("sub-2")).toMatchObject({ hotkey: "carol", state: "copy", copyOf: "sub-1" });
    expect(store.submissions.get("sub-2")?.reason).toMatch(/same image digest/);
  });

  it("records malformed commitments with the reason and what to do", () => {
    const store = openStore({ path: ":memory:" });
    const s = ingestCommitments({
      store,
      snapshot: {
        block: 5,
        entries: [
          entry("dave", 4, "nginx:latest", 3),
          entry("erin", 5, "", 3),
          entry("frank", 6, `x@sha256:${"A".repeat(64)}`, 3),
        ],
      },
    });
    expect(s.malformed).toHaveLength(3);
    const byHotkey = Object.fromEntries(store.submissions.list().map((r) => [r.hotkey, r]));
    expect(byHotkey.dave?.reason).toMatch(/has no digest.*Commit a reference pinned by digest/);
    expect(byHotkey.erin?.reason).toMatch(/it is empty/);
    expect(byHotkey.frank?.reason).toMatch(/lowercase hex/);
  });

  it("a changed commitment supersedes the hotkey's previous one; resubmitting your own digest is not a copy", () => {
    const store = openStore({ path: ":memory:" });
    ingestCommitments({
      store,
      snapshot: { block: 10, entries: [entry("alice", 1, ref("alice/x", "a"), 9)] },
    });
    const s = ingestCommitments({
      store,
      snapshot: { block: 20, entries: [entry("alice", 1, ref("alice/y", "a"), 19)] },
    });
    expect(s.superseded).toEqual(["sub-1"]);
    expect(s.pending).toEqual(["sub-2"]);
    expect(store.submissions.get("sub-1")?.state).toBe("superseded");
  });

  it("a deregistered hotkey drops out; a uid change is followed", () => {
    const store = openStore({ path: ":memory:" });
    ingestCommitments({
      store,
      snapshot: {
        block: 10,
        entries: [entry("alice", 1, ref("alice/x", "a"), 9), entry("bob", 2, ref("bob/x", "b"), 9)],
      },
    });
    const s = ingestCommitments({
      store,
      snapshot: { block: 11, entries: [entry("bob", 7, ref("bob/x", "b"), 9)] },
    });
    expect(s.deregistered).toEqual(["sub-1"]);
    expect(store.submissions.get("sub-1")?.state).toBe("deregistered");
    expect(store.submissions.get("sub-2")?.uid).toBe(7);
    // Re-registering with the same commitment makes a fresh submission.
    const back = ingestCommitments({
      store,
      snapshot: { block: 12, entries: [entry("alice", 3, ref("alice/x", "a"), 9)] },
    });
    expect(back.pending).toEqual(["sub-3"]);
  });

  it("a snapshot naming a hotkey twice keeps the oldest entry", () => {
    const store = openStore({ path: ":memory:" });
    const s = ingestCommitments({
      store,
      snapshot: {
        block: 10,
        entries: [entry("alice", 1, ref("alice/y", "b"), 9), entry("alice", 1, ref("alice/x", "a"), 8)],
      },
    });
    expect(s.pending).toEqual(["sub-1"]);
    expect(store.submissions.get("sub-1")?.digest).toBe(digest("a"));
  });
});
