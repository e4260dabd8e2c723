// Two `cacheon-controller serve` processes on one store file: the second refuses to start and
// names the first (pid, host, since when); once the first is killed, a new one takes its stale
// lock over. Real processes, a real chain (the devnet), a real SQLite file.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type Devnet, startDevnet } from "../../devnet/devnet.ts";
import { newPromptSecret } from "../../shared/workload/prompt-key.ts";
import { scenarioSettings } from "../rounds/testing/sim-scenario.ts";
import { openStore } from "../store/controller-store.ts";
import { storeLockHolder } from "../store/store-lock.ts";

const main = join(import.meta.dirname, "main.ts");
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Serve {
  proc: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

function serve(env: Record<string, string>): Serve {
  const proc = spawn(process.execPath, [main, "serve"], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  proc.stderr?.on("data", (b) => {
    stderr += String(b);
  });
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  cleanups.push(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  });
  return { proc, stderr: () => stderr, exited };
}

/** Waits until process `pid` holds the store's lock. */
async function heldBy(storePath: string, pid: number | undefined, deadlineMs = 30_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  let seen: number | undefined;
  while (Date.now() < until) {
    if (existsSync(storePath)) {
      try {
        const store = openStore({ path: storePath, readOnly: true });
        try {
          seen = storeLockHolder(store.db)?.pid;
          if (seen === pid) return;
        } finally {
          store.close();
        }
      } catch {
        // being created
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `the lock of ${storePath} is held by ${seen ?? "nobody"}, not ${pid}, after ${deadlineMs} ms`,
  );
}

describe("serve's single-writer store lock", () => {
  it("refuses a second controller on the same store, naming the first, and takes over after it died", async () => {
    const devnet: Devnet = await startDevnet({ port: 0, blockTimeSeconds: 0.1 });
    cleanups.push(() => devnet.close());
    const dir = mkdtempSync(join(tmpdir(), "serve-lock-"));
    const storePath = join(dir, "controller.db");
    const env = {
      CACHEON_CONTROLLER_STORE_PATH: storePath,
      CACHEON_CONTROLLER_CHAIN_ENDPOINTS: devnet.url,
      CACHEON_CONTROLLER_WALLET_DEV_URI: "//Alice",
      CACHEON_CONTROLLER_ROUNDS_BASELINE_IMAGE: scenarioSettings.baselineImage,
      CACHEON_CONTROLLER_ROUNDS_VALIDATOR_SECRET: newPromptSecret(),
      CACHEON_CONTROLLER_PUBLISH_FOLDER: join(dir, "published"),
      CACHEON_CONTROLLER_WEB_LISTEN: "",
      CACHEON_CONTROLLER_LOG_FORMAT: "json",
    };

    const first = serve(env);
    await heldBy(storePath, first.proc.pid);

    const second = serve(env);
    expect(await second.exited).toBe(2);
    expect(second.stderr()).toMatch(
      new RegExp(
        `the store .*controller\\.db is in use by serve pid ${first.proc.pid} on host ${hostname()} since \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z`,
      ),
    );
    // The first one was not disturbed.
    expect(first.proc.exitCode).toBeNull();

    first.proc.kill("SIGKILL");
    await first.exited;
    const third = serve(env);
    await heldBy(storePath, third.proc.pid);
    third.proc.kill("SIGINT");
    expect(await third.exited).toBe(130);
    expect(third.stderr()).toMatch(/took over the store lock of a controller that is gone/);
    expect(third.stderr()).toContain(`pid ${first.proc.pid}`);
    // A clean stop gives the lock up.
    expect(storeLockHolder(openStore({ path: storePath, readOnly: true }).db)).toBeUndefined();
  }, 90_000);
});
