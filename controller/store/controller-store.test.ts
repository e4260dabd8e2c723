import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openStore } from "./controller-store.ts";
import { migrations } from "./migrations.ts";

const tempPath = () => join(mkdtempSync(join(tmpdir(), "store-")), "nested", "controller.db");

describe("openStore", () => {
  it("creates the file in WAL mode with every migration applied, once", () => {
    const path = tempPath();
    const store = openStore({ path });
    expect(store.schemaVersion()).toBe(migrations.at(-1)?.version);
    expect((store.db.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode).toBe(
      "wal",
    );
    store.setMeta("k", "v");
    store.close();
    const again = openStore({ path });
    expect(again.getMeta("k")).toBe("v");
    expect((again.db.prepare("SELECT COUNT(*) AS n FROM schema_version").get() as { n: number }).n).toBe(
      migrations.length,
    );
    again.close();
  });

  it("gives each store its own id, kept across reopening, so job ids differ between stores", () => {
    const path = tempPath();
    const first = openStore({ path });
    const id = first.storeId();
    expect(id).toMatch(/^[0-9a-f]{8}$/);
    first.close();
    const again = openStore({ path });
    expect(again.storeId()).toBe(id);
    again.close();
    const other = openStore({ path: tempPath() });
    expect(other.storeId()).not.toBe(id);
    other.close();
  });

  it("applies a new migration on top of an existing store", () => {
    const path = tempPath();
    openStore({ path }).close();
    const next = [...migrations, { version: 99, name: "extra", sql: "CREATE TABLE extra (x INTEGER)" }];
    const store = openStore({ path, migrations: next });
    expect(store.schemaVersion()).toBe(99);
    store.db.prepare("INSERT INTO extra (x) VALUES (1)").run();
    store.close();
  });

  it("refuses a store written by a newer controller", () => {
    const path = tempPath();
    openStore({
      path,
      migrations: [...migrations, { version: 50, name: "future", sql: "SELECT 1" }],
    }).close();
    expect(() => openStore({ path })).toThrow(/schema version 50, newer than this controller knows/);
    expect(() => openStore({ path, readOnly: true })).toThrow(/newer than this controller knows/);
  });

  it("a failing migration leaves the previous version intact", () => {
    const path = tempPath();
    openStore({ path }).close();
    const current = migrations.at(-1)?.version ?? 0;
    const bad = [
      ...migrations,
      { version: current + 1, name: "broken", sql: "CREATE TABLE ok (x INTEGER); CREATE TABLE broken (" },
    ];
    expect(() => openStore({ path, migrations: bad })).toThrow(/cannot prepare the controller store/);
    const store = openStore({ path });
    expect(store.schemaVersion()).toBe(current);
    expect(store.db.prepare("SELECT name FROM sqlite_master WHERE name = 'ok'").get()).toBeUndefined();
    store.close();
  });

  it("names a file that is not a database, and a missing one opened read-only", () => {
    const dir = mkdtempSync(join(tmpdir(), "store-"));
    const junk = join(dir, "junk.db");
    writeFileSync(
      junk,
      "this is not sqlite at all, just text that is long enough to have a header".repeat(20),
    );
    expect(() => openStore({ path: junk })).toThrow(/controller store .*junk\.db/);
    expect(() => openStore({ path: join(dir, "missing.db"), readOnly: true })).toThrow(
      /cannot open the controller store .*run `cacheon-controller serve` once/,
    );
  });
});

describe("ControllerStore", () => {
  it("a transaction that throws leaves nothing behind; nested calls join the outer one", () => {
    const store = openStore({ path: ":memory:" });
    expect(() =>
      store.transaction(() => {
        store.setMeta("a", "1");
        store.transaction(() => store.setMeta("b", "2"));
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(store.getMeta("a")).toBeUndefined();
    expect(store.getMeta("b")).toBeUndefined();
    store.transaction(() => store.setMeta("a", "1"));
    expect(store.getMeta("a")).toBe("1");
    expect(() => store.transaction(() => Promise.resolve(1) as never)).toThrow(/must be synchronous/);
  });

  it("keeps submissions in arrival order with states, facts and filters", () => {
    const store = openStore({ path: ":memory:", now: () => 1000 });
    const base = { uid: 1, raw: "r", image: "i", digest: "d", commitBlock: 5, seenBlock: 6 };
    const a = store.submissions.insert({ ...base, hotkey: "h1", state: "pending" });
    const b = store.submissions.insert({
      ...base,
      hotkey: "h2",
      state: "copy",
      reason: "same digest",
      copyOf: a.id,
    });
    expect([a.id, b.id]).toEqual(["sub-1", "sub-2"]);
    store.submissions.setImageFacts(a.id, { configDigest: "sha256:c", layers: ["l1", "l2"], sizeBytes: 10 });
    store.submissions.setImageFacts(a.id, {});
    expect(store.submissions.get(a.id)).toMatchObject({
      configDigest: "sha256:c",
      layers: ["l1", "l2"],
      sizeBytes: 10,
    });
    expect(store.submissions.list({ states: ["pending"] }).map((s) => s.id)).toEqual(["sub-1"]);
    expect(store.submissions.list({ hotkey: "h2" })[0]).toMatchObject({
      copyOf: "sub-1",
      reason: "same digest",
    });
    expect(store.submissions.list({ states: [] })).toEqual([]);
    expect(() => store.submissions.setState("sub-9", "failed", "x")).toThrow(
      /submission sub-9 does not exist/,
    );
  });

  it("a job starts only from queued", () => {
    const store = openStore({ path: ":memory:" });
    const round = store.rounds.insert({
      block: 1,
      blockHash: "0xab",
      seed: "ab",
      state: "evaluating",
      deadlineMs: 0,
      challengers: [],
      standingBefore: {},
    });
    store.jobs.insert({
      id: "j1",
      roundId: round.id,
      phase: "evaluate",
      slot: "e0",
      attempt: 0,
      seed: "ab",
      job: {},
      excludedPods: [],
    });
    store.jobs.markRunning("j1", "pod-a");
    expect(() => store.jobs.markRunning("j1", "pod-b")).toThrow(/job j1 is not queued/);
    store.jobs.finish("j1", {
      state: "done",
      decision: "decided",
      reason: "",
      result: { x: 1 },
      score: { y: 2 },
    });
    expect(store.jobs.get("j1")).toMatchObject({
      state: "done",
      podId: "pod-a",
      result: { x: 1 },
      score: { y: 2 },
    });
    expect(store.rounds.open()?.id).toBe(round.id);
    store.rounds.setState(round.id, "settled", { leader: null });
    expect(store.rounds.open()).toBeUndefined();
  });
});
