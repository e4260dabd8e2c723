import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openStore } from "./controller-store.ts";
import { lockVerdict, type StoreLockHolder } from "./store-lock.ts";

const holder = (over: Partial<StoreLockHolder> = {}): StoreLockHolder => ({
  lockId: "l1",
  owner: "serve",
  pid: 100,
  host: "validator-1",
  pidStart: "5000",
  sinceMs: 0,
  heartbeatMs: 1_000,
  ...over,
});

describe("lockVerdict", () => {
  const rows: {
    name: string;
    holder: StoreLockHolder | undefined;
    host: string;
    nowMs: number;
    alive: boolean;
    kind: "free" | "takeover" | "held";
    why?: RegExp;
  }[] = [
    { name: "nobody holds it", holder: undefined, host: "validator-1", nowMs: 0, alive: false, kind: "free" },
    {
      name: "a live process on this host",
      holder: holder(),
      host: "validator-1",
      nowMs: 2_000,
      alive: true,
      kind: "held",
    },
    {
      name: "a dead process on this host, however fresh its heartbeat",
      holder: holder(),
      host: "validator-1",
      nowMs: 2_000,
      alive: false,
      kind: "takeover",
      why: /process 100 on validator-1 is gone/,
    },
    {
      name: "another host, heartbeating",
      holder: holder({ host: "validator-2" }),
      host: "validator-1",
      nowMs: 60_000,
      alive: false,
      kind: "held",
    },
    {
      name: "another host, silent past the limit",
      holder: holder({ host: "validator-2" }),
      host: "validator-1",
      nowMs: 122_000,
      alive: true,
      kind: "takeover",
      why: /not heartbeated for 121 s \(limit 120 s\)/,
    },
    {
      name: "a live but hung process on this host, silent past the limit",
      holder: holder(),
      host: "validator-1",
      nowMs: 122_000,
      alive: true,
      kind: "takeover",
      why: /not heartbeated/,
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const verdict = lockVerdict({
        holder: row.holder,
        self: { host: row.host },
        nowMs: row.nowMs,
        staleAfterMs: 120_000,
        alive: () => row.alive,
      });
      expect(verdict.kind).toBe(row.kind);
      if (row.why && verdict.kind === "takeover") expect(verdict.why).toMatch(row.why);
    });
  }
});

describe("openStore with a lock", () => {
  const tempStore = () => join(mkdtempSync(join(tmpdir(), "store-lock-")), "controller.db");
  const other = { pid: 4242, host: "validator-1", pidStart: "77" };
  const me = { pid: 4343, host: "validator-1", pidStart: "88" };

  it("refuses a second writer naming the holder, admits readers, and frees the lock on close", () => {
    const path = tempStore();
    const first = openStore({ path, lock: { owner: "serve", self: other, alive: () => true } });
    expect(() => openStore({ path, lock: { owner: "serve", self: me, alive: () => true } })).toThrow(
      /the store .*controller\.db is in use by serve pid 4242 on host validator-1 since \d{4}-\d\d-\d\dT.*Z, last heartbeat 0 s ago/,
    );
    // Operators' commands read beside the controller.
    const reader = openStore({ path, readOnly: true });
    expect(reader.storeId()).toBe(first.storeId());
    reader.close();
    first.close();
    const second = openStore({ path, lock: { owner: "serve", self: me, alive: () => true } });
    expect(second.lock?.takenOver).toBeUndefined();
    second.close();
  });

  it("takes over the lock of a dead process, and the old holder writes nothing more", () => {
    const path = tempStore();
    let lostWith = "";
    const dead = openStore({
      path,
      lock: { owner: "serve", self: other, alive: () => true, onLost: (e) => (lostWith = e.message) },
    });
    const survivor = openStore({
      path,
      lock: { owner: "serve", self: me, alive: (pid) => pid !== other.pid },
    });
    expect(survivor.lock?.takenOver?.from).toMatchObject({ pid: 4242, host: "validator-1" });
    expect(survivor.lock?.takenOver?.why).toMatch(/process 4242 on validator-1 is gone/);
    // A controller presumed dead that wakes up cannot write: its transactions are refused.
    expect(() => dead.transaction(() => dead.setMeta("k", "stale writer"))).toThrow(
      /lost the lock of store .* serve pid 4343 on host validator-1 .* took it over/,
    );
    expect(lostWith).toMatch(/lost the lock/);
    survivor.transaction(() => survivor.setMeta("k", "survivor"));
    expect(survivor.getMeta("k")).toBe("survivor");
    // Closing the old one must not free the survivor's lock.
    dead.close();
    expect(() => openStore({ path, lock: { self: other, alive: () => true } })).toThrow(
      /in use by serve pid 4343/,
    );
    survivor.close();
  });

  it("leaves :memory: stores and read-only opens alone", () => {
    const a = openStore({ path: ":memory:", lock: {} });
    const b = openStore({ path: ":memory:", lock: {} });
    expect(a.lock).toBeUndefined();
    a.close();
    b.close();
  });
});
