import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import type { Standing } from "../scoring/settle-standing.ts";
import { openStore } from "../store/controller-store.ts";
import { fileChain, writeFileChain } from "./testing/file-chain.ts";
import { scenarioCommitments, scenarioVerdicts } from "./testing/sim-scenario.ts";

const child = join(import.meta.dirname, "testing", "controller-child.ts");

function setUp(): string {
  const dir = mkdtempSync(join(tmpdir(), "kill-restart-"));
  writeFileChain(dir, scenarioCommitments);
  return dir;
}

/** Runs the controller; with `killAt`, SIGKILLs it right after its killAt-th STEP line. */
function runController(
  dir: string,
  killAt?: (line: string, n: number) => boolean,
): Promise<{ lines: string[]; killed: boolean; code: number | null }> {
  return new Promise((resolve, reject) => {
    const proc: ChildProcess = spawn(process.execPath, [child, dir], { stdio: ["ignore", "pipe", "pipe"] });
    const lines: string[] = [];
    let stderr = "";
    let killed = false;
    proc.stderr?.on("data", (b) => {
      stderr += String(b);
    });
    createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      lines.push(line);
      const steps = lines.filter((l) => l.startsWith("STEP ")).length;
      if (!killed && line.startsWith("STEP ") && killAt?.(line, steps)) {
        killed = true;
        proc.kill("SIGKILL");
      }
    });
    proc.on("error", reject);
    proc.on("exit", (code) => {
      if (!killed && code !== 0) reject(new Error(`controller exited ${code}: ${stderr}`));
      else resolve({ lines, killed, code });
    });
  });
}

function outcome(dir: string) {
  const store = openStore({ path: join(dir, "controller.db"), readOnly: true });
  try {
    const rounds = store.rounds.list();
    const verdicts = Object.fromEntries(
      rounds.flatMap((r) => store.verdicts.list({ roundId: r.id })).map((v) => [v.hotkey, v.verdict]),
    );
    return {
      rounds: rounds.map((r) => ({ state: r.state, published: r.publishedAt !== null })),
      verdicts,
      standing: store.standings.current<Standing>(),
      weightStates: store.weightSettings
        .list()
        .map((w) => w.state)
        .reverse(),
      chain: fileChain(join(dir, "chain.json")).read(),
    };
  } finally {
    store.close();
  }
}

describe("killing the controller at any point of a round", () => {
  it("loses nothing and sets no weight twice (SIGKILL at many points, then restart)", async () => {
    // Reference: one uninterrupted run.
    const clean = setUp();
    await runController(clean);
    const reference = outcome(clean);
    expect(reference.verdicts).toEqual(scenarioVerdicts);
    expect(reference.standing.leader?.hotkey).toBe("carol");
    expect(reference.standing.runnerUp?.hotkey).toBe("bob");
    // The fallback before any leader (all to uid 0), then leader 80 / runner-up 20.
    expect(reference.chain.accepted.map((a) => [a.uids, a.weights])).toEqual([
      [[0], [65535]],
      [
        [1, 2],
        [16384, 65535],
      ],
    ]);

    // Killed again and again: once at the first occurrence of every kind of step (round
    // creation, job starts and finishes, reproduction planning, settlement, just before and just
    // after the chain took the weights), and a few times at the second step of a run.
    const dir = setUp();
    const remaining = new Set([
      "weights-sending",
      "weights-sent",
      "round-created",
      "job-started",
      "job-finished",
      "reproduction-planned",
      "round-settled",
    ]);
    const kills: string[] = [];
    let extra = 4;
    for (let run = 0; run < 40; run += 1) {
      const result = await runController(dir, (line, n) => {
        const kind = line.split(" ")[1] ?? "";
        if (remaining.delete(kind)) return true;
        if (extra === 0 || n !== 2) return false;
        extra -= 1;
        return true;
      });
      if (!result.killed) {
        expect(result.lines.at(-1)).toBe("DONE");
        break;
      }
      kills.push(result.lines.filter((l) => l.startsWith("STEP ")).at(-1) ?? "");
    }
    expect([...remaining], `killed at: ${kills.join(", ")}`).toEqual([]);
    expect(kills.length).toBeGreaterThanOrEqual(8);

    const after = outcome(dir);
    expect(after.verdicts).toEqual(reference.verdicts);
    expect(after.standing.leader?.submissionId).toBe(reference.standing.leader?.submissionId);
    expect(after.standing.runnerUp?.submissionId).toBe(reference.standing.runnerUp?.submissionId);
    expect(after.rounds).toEqual([{ state: "settled", published: true }]);
    // Each decision reached the chain exactly once, however often the controller died.
    expect(after.chain.accepted.map((a) => [a.uids, a.weights])).toEqual(
      reference.chain.accepted.map((a) => [a.uids, a.weights]),
    );
    expect(after.weightStates.every((s) => s === "confirmed")).toBe(true);
  }, 180_000);
});
