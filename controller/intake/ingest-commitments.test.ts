import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sanitiseStanding } from "../rounds/round-readings.ts";
import type { Standing } from "../scoring/settle-standing.ts";
import { type ControllerStore, openStore } from "../store/controller-store.ts";
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
      kept: [],
      deregistered: [],
      unpaid: [],
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

  it("a changed commitment supersedes the hotkey's previous one; the same digest again keeps it", () => {
    const store = openStore({ path: ":memory:" });
    ingestCommitments({
      store,
      snapshot: { block: 10, entries: [entry("alice", 1, ref("alice/x", "a"), 9)] },
    });
    const same = ingestCommitments({
      store,
      snapshot: { block: 20, entries: [entry("alice", 1, ref("alice/y", "a"), 19)] },
    });
    expect(same).toMatchObject({ kept: ["sub-1"], superseded: [], pending: [] });
    expect(store.submissions.get("sub-1")).toMatchObject({
      state: "pending",
      image: ref("alice/y", "a"),
      commitBlock: 9,
      priorityBlock: 9,
    });
    const changed = ingestCommitments({
      store,
      snapshot: { block: 30, entries: [entry("alice", 1, ref("alice/y", "b"), 29)] },
    });
    expect(changed.superseded).toEqual(["sub-1"]);
    expect(changed.pending).toEqual(["sub-2"]);
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

// Copy ownership on the real store (a SQLite file), as a miner who wants to be paid would try it.
describe("copy ownership", () => {
  const fileStore = () => openStore({ path: join(mkdtempSync(join(tmpdir(), "intake-")), "controller.db") });
  const at = (block: number, ...entries: CommitmentEntry[]) => ({ block, entries });
  const ingest = (store: ControllerStore, block: number, entries: CommitmentEntry[]) =>
    ingestCommitments({ store, snapshot: at(block, ...entries) });
  const owner = entry("alice", 1, ref("alice/srv", "a"), 10);
  const thief = entry("trudy", 2, ref("trudy/srv", "a"), 11);
  const current = (store: ControllerStore, hotkey: string) =>
    store.submissions.get(store.commitments.get(hotkey)?.submissionId ?? "");

  it("an owner's re-commit keeps its seat and is not a copy of the thief who copied it", () => {
    const store = fileStore();
    ingest(store, 12, [owner, thief]);
    expect(current(store, "trudy")).toMatchObject({ state: "copy", copyOf: "sub-1" });
    store.submissions.setState("sub-1", "evaluated", "leads");
    const seat = { submissionId: "sub-1", hotkey: "alice", commitBlock: 10, settledSpeed: 1.5 };
    store.standings.append(null, { leader: seat });
    // The owner re-commits the same digest (another tag), and again at a later block.
    const again = ingest(store, 21, [{ ...owner, raw: ref("alice/srv2", "a"), commitBlock: 20 }, thief]);
    expect(again).toMatchObject({ kept: ["sub-1"], copies: [], pending: [], superseded: [] });
    expect(current(store, "alice")).toMatchObject({ id: "sub-1", state: "evaluated", priorityBlock: 10 });
    const standing = sanitiseStanding(store.standings.current<Standing>(), (id) => store.submissions.get(id));
    expect(standing.leader?.submissionId).toBe("sub-1");
    store.close();
  });

  it("the owner switching images and coming back still owns its content", () => {
    const store = fileStore();
    ingest(store, 12, [owner, thief]);
    ingest(store, 31, [{ ...owner, raw: ref("alice/other", "b"), commitBlock: 30 }, thief]);
    const back = ingest(store, 41, [{ ...owner, commitBlock: 40 }, thief]);
    expect(back.copies).toEqual([]);
    expect(current(store, "alice")).toMatchObject({ state: "pending", digest: digest("a") });
  });

  it("a thief re-committing its copy, or re-registering, never resets its priority", () => {
    const store = fileStore();
    ingest(store, 12, [owner, thief]);
    const recommit = ingest(store, 51, [owner, { ...thief, commitBlock: 50 }]);
    expect(recommit.kept).toEqual(["sub-2"]);
    expect(current(store, "trudy")?.state).toBe("copy");
    // Deregistered, then back with the same digest: a fresh submission, still a copy. The
    // owner's history counts even while the owner itself is away.
    ingest(store, 60, []);
    const back = ingest(store, 70, [{ ...thief, commitBlock: 65 }]);
    expect(back.copies).toEqual([current(store, "trudy")?.id]);
    expect(current(store, "trudy")).toMatchObject({ state: "copy", copyOf: "sub-1" });
  });

  it("the same digest from two hotkeys in one block: the earlier event owns it, not the first name", () => {
    const store = fileStore();
    const s = ingest(store, 20, [
      { ...entry("abe", 1, ref("abe/srv", "a"), 15), priorityIndex: 9 },
      { ...entry("zoe", 2, ref("zoe/srv", "a"), 15), priorityIndex: 4 },
    ]);
    expect(s.copies).toHaveLength(1);
    expect(current(store, "zoe")?.state).toBe("pending");
    expect(current(store, "abe")).toMatchObject({ state: "copy", copyOf: current(store, "zoe")?.id });
  });

  it("the same digest from two hotkeys in one block of unknown order: neither owns it, nor does anyone later", () => {
    const store = fileStore();
    const s = ingest(store, 20, [
      entry("abe", 1, ref("abe/srv", "a"), 15),
      entry("zoe", 2, ref("zoe/srv", "a"), 15),
    ]);
    expect(s.copies).toHaveLength(2);
    expect(current(store, "abe")?.reason).toMatch(/same block 15.*neither commit owns the content/);
    const late = ingest(store, 30, [
      entry("abe", 1, ref("abe/srv", "a"), 15),
      entry("zoe", 2, ref("zoe/srv", "a"), 15),
      entry("carl", 3, ref("carl/srv", "a"), 25),
    ]);
    expect(late.copies).toEqual([current(store, "carl")?.id]);
  });

  it("a timelocked commitment owns from its reveal; a plain copy in that block after it is a copy", () => {
    const store = fileStore();
    ingest(store, 40, [
      { ...entry("rita", 1, ref("rita/srv", "e"), 5), priorityBlock: 30, priorityIndex: 1 },
      { ...entry("paul", 2, ref("paul/srv", "e"), 30), priorityIndex: 6 },
    ]);
    expect(current(store, "rita")).toMatchObject({ state: "pending", priorityBlock: 30, priorityIndex: 1 });
    expect(current(store, "paul")).toMatchObject({ state: "copy", copyOf: current(store, "rita")?.id });
  });

  it("a failed image committed again is measured afresh; its priority is its own", () => {
    const store = fileStore();
    ingest(store, 12, [owner]);
    store.submissions.setState("sub-1", "failed", "registry was down");
    const again = ingest(store, 21, [{ ...owner, commitBlock: 20 }]);
    expect(again).toMatchObject({ superseded: ["sub-1"], pending: ["sub-2"], copies: [] });
  });
});
