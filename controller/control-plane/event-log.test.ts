import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type EventRow, SqliteEventLog } from "./event-log.ts";

const row = (agentId: string, seq: number, receivedAtMs: number, bytes = 10): EventRow => ({
  agentId,
  seq,
  atMs: receivedAtMs,
  receivedAtMs,
  kind: "progress",
  jobId: "",
  event: new Uint8Array(bytes),
});

describe("SqliteEventLog", () => {
  it("stores each (agent, seq) once and counts bytes per agent", () => {
    const log = new SqliteEventLog();
    expect(log.append(row("a", 1, 100))).toBe(true);
    expect(log.append(row("a", 1, 100))).toBe(false);
    expect(log.append(row("a", 2, 100, 30))).toBe(true);
    log.append(row("b", 1, 100, 5));
    expect([log.storedBytes("a"), log.storedBytes("b"), log.totalBytes()]).toEqual([40, 5, 45]);
    expect(log.events("a").map((e) => e.seq)).toEqual([1, 2]);
    expect(log.lastSeq("a")).toBe(2);
    log.close();
  });

  it("keeps an agent's sequence across skipped (over quota) and pruned events, and across reopening", () => {
    const path = join(mkdtempSync(join(tmpdir(), "event-log-")), "events.db");
    const log = new SqliteEventLog({ path });
    log.append(row("a", 1, 100));
    log.skip("a", 2);
    log.skip("a", 3);
    expect(log.lastSeq("a")).toBe(3);
    log.append(row("a", 4, 200));
    expect(log.prune({ olderThanMs: 1_000, maxBytes: 1e9 })).toEqual({ expired: 2, overCap: 0 });
    expect(log.events("a")).toEqual([]);
    // A resend after the prune is still a duplicate, not a new event.
    expect(log.lastSeq("a")).toBe(4);
    log.close();
    const again = new SqliteEventLog({ path });
    expect(again.lastSeq("a")).toBe(4);
    again.close();
  });

  it("expires old events and cuts the log to its cap, oldest first", () => {
    const log = new SqliteEventLog();
    for (let i = 1; i <= 10; i += 1) log.append(row("a", i, i * 100, 100));
    log.append(row("b", 1, 1_050, 100));
    // Before 300 expired (2 events); then 900 bytes over a 500-byte cap: the oldest 4 more go.
    expect(log.prune({ olderThanMs: 300, maxBytes: 500 })).toEqual({ expired: 2, overCap: 4 });
    expect(log.events("a").map((e) => e.seq)).toEqual([7, 8, 9, 10]);
    expect(log.events("b").map((e) => e.seq)).toEqual([1]);
    expect(log.totalBytes()).toBe(500);
    expect(log.lastSeq("a")).toBe(10);
    log.close();
  });

  it("names the file it cannot open", () => {
    // A folder that is a file.
    const file = join(mkdtempSync(join(tmpdir(), "event-log-")), "plain-file");
    writeFileSync(file, "");
    expect(() => new SqliteEventLog({ path: join(file, "events.db") })).toThrow(
      /cannot open the agents' event log .*plain-file\/events\.db: .*controlPlane\.eventsPath/,
    );
  });
});
