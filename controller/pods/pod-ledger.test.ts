import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterEach, describe, expect, it } from "vitest";
import { openSqlitePodLedger, type PodRecord } from "./pod-ledger.ts";

const record: PodRecord = {
  podId: "cacheon-a",
  provider: "command:x",
  profile: "h200x8",
  providerPodId: "i-1",
  host: "10.0.0.1",
  pricePerHour: 24,
  state: "released",
  requestedAtMs: 1_000,
  startedAtMs: 2_000,
  releasedAtMs: 3_602_000,
  costUsd: 24,
  failure: "",
};

describe("sqlite pod ledger", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("keeps records, transitions, host notes and total cost across reopening, in pods_ tables", () => {
    const dir = mkdtempSync(join(tmpdir(), "cacheon-ledger-"));
    dirs.push(dir);
    const path = join(dir, "controller.db");
    const ledger = openSqlitePodLedger(path);
    ledger.put({ ...record, state: "booting", releasedAtMs: 0, costUsd: 0 });
    ledger.put(record);
    ledger.put({
      ...record,
      podId: "cacheon-b",
      requestedAtMs: 5_000,
      costUsd: 1.5,
      state: "failed",
      failure: "gone",
    });
    ledger.transition("cacheon-a", "requested", "booting", 2_000, "created");
    ledger.transition("cacheon-a", "booting", "released", 3_602_000, "done");
    ledger.noteHost({
      provider: "command:x",
      host: "10.0.0.2",
      podId: "cacheon-b",
      reason: "gpu-count",
      atMs: 9,
    });
    const lease = {
      podId: "cacheon-b",
      profile: { name: "h200x8", gpuModel: "H200", gpuCount: 8 },
      stateSinceMs: 5_500,
      agentId: "agent-b",
      jobId: "job-1",
      endReason: "",
      returned: false,
      tokenHash: "ab".repeat(32),
    };
    ledger.putLease({ ...lease, podId: "cacheon-a", returned: true });
    ledger.putLease(lease);
    ledger.close();

    const again = openSqlitePodLedger(path);
    // Only leases whose machine is not returned are open: what a restarted fleet adopts.
    expect(again.openLeases()).toEqual([lease]);
    expect(again.get("cacheon-a")).toEqual(record);
    expect(again.get("nope")).toBeUndefined();
    expect(again.list().map((r) => r.podId)).toEqual(["cacheon-a", "cacheon-b"]);
    expect(again.transitions("cacheon-a").map((t) => `${t.from}>${t.to}:${t.reason}`)).toEqual([
      "requested>booting:created",
      "booting>released:done",
    ]);
    expect(again.hostNotes()).toEqual([
      { provider: "command:x", host: "10.0.0.2", podId: "cacheon-b", reason: "gpu-count", atMs: 9 },
    ]);
    expect(again.totalCostUsd()).toBe(25.5);
    again.close();

    const db = new DatabaseSync(path);
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
      .all();
    db.close();
    expect(tables.map((t) => t.name).sort()).toEqual([
      "pods_host_notes",
      "pods_leases",
      "pods_records",
      "pods_transitions",
    ]);
  });

  it("starts empty in memory", () => {
    const ledger = openSqlitePodLedger(":memory:");
    expect(ledger.list()).toEqual([]);
    expect(ledger.totalCostUsd()).toBe(0);
    ledger.close();
  });
});
