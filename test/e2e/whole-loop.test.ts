// Acceptance of issue 11: the whole loop on one machine, composed by the same function as
// `scripts/demo` (startDemoLoop): the reference server images in the real registry, the local chain
// (devnet, real metadata), the miners' own commit command, the controller with its store, two local
// agents running the real pod job on the real Docker engine, and the operators' page.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ApiPromise, WsProvider } from "@polkadot/api";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatDemoSummary } from "../../controller/cli/demo-command.ts";
import {
  type DemoEvent,
  type DemoLoop,
  type DemoSummary,
  startDemoLoop,
} from "../../controller/cli/demo-loop.ts";
import { demoMiners } from "../../controller/cli/demo-miners.ts";
import { openStore } from "../../controller/store/controller-store.ts";
import { testServices } from "../support/services.ts";

const root = join(import.meta.dirname, "..", "..");
const services = testServices();
const docker = new Docker({ socketPath: services.dockerSocket });
const work = mkdtempSync(join(tmpdir(), "whole-loop-"));
const events: DemoEvent[] = [];
let demo: DemoLoop | undefined;
let summary: DemoSummary;
let chainWeights: [number, number][];

/** Containers of one run's agent jobs still on the engine. */
async function containersOf(runTag: string): Promise<string[]> {
  const all = await docker.listContainers({ all: true, filters: { label: ["cacheon.job"] } });
  return all.filter((c) => c.Labels["cacheon.job"]?.startsWith(`${runTag}-`)).map((c) => c.Names[0] ?? c.Id);
}

beforeAll(async () => {
  demo = await startDemoLoop({
    root,
    dir: join(work, "demo"),
    webListen: "127.0.0.1:0",
    dockerSocket: services.dockerSocket,
    registry: services.registry,
    signal: AbortSignal.timeout(540_000),
    onEvent: (e) => events.push(e),
  });
  summary = await demo.run();
  // The weights as the chain holds them, read with a plain @polkadot/api client (not the controller's).
  const api = await ApiPromise.create({ provider: new WsProvider(demo.chainUrl), noInitWarn: true });
  try {
    chainWeights = (await api.query.subtensorModule?.weights?.(1, 0))?.toJSON() as [number, number][];
  } finally {
    await api.disconnect();
  }
}, 600_000);

afterAll(async () => {
  await demo?.close();
  rmSync(work, { recursive: true, force: true });
});

describe("the whole loop on one machine", () => {
  const byMiner = (name: string) => summary.standings.find((s) => s.miner === name);

  it("every miner committed through the miners' command, the leader's content first", () => {
    const commits = events.filter((e) => e.kind === "committed");
    expect(commits.map((c) => [c.miner.name, c.uid])).toEqual([
      ["bob", 1],
      ["charlie", 2],
      ["grace", 3],
      ["dave", 4],
      ["eve", 5],
      ["ferdie", 6],
    ]);
    expect(commits.map((c) => c.miner.name)).toEqual(demoMiners.map((m) => m.name));
    const blocks = commits.map((c) => c.block);
    expect([...blocks].sort((a, b) => a - b)).toEqual(blocks);
  });

  it("crowns the fastest correct server after reproducing it on the other agent", () => {
    expect(summary.paid).toBe(true);
    expect(summary.leader?.miner).toBe("bob");
    expect(summary.leader?.speed).toBeGreaterThan(1);
    expect(summary.runnerUp?.miner).toBe("charlie");
    expect(summary.runnerUp?.speed).toBeGreaterThan(1);
    expect(summary.leader?.speed).toBeGreaterThan(summary.runnerUp?.speed ?? Infinity);
    const round = summary.rounds[0];
    expect(round?.state).toBe("settled");
    const repro = round?.jobs.filter((j) => j.phase === "reproduce" && j.state === "done") ?? [];
    expect(repro.length).toBeGreaterThan(0);
    const pods = new Set(round?.jobs.map((j) => j.pod));
    expect(pods).toEqual(new Set(["local-a", "local-b"]));
  });

  it("measures the honest slow server as correct, ranks it below the seats, and does not pay it", () => {
    const grace = byMiner("grace");
    expect(grace?.state, JSON.stringify(grace)).toBe("evaluated");
    expect(grace?.verdict).toBe("below-bar");
    expect(grace?.reason).toMatch(/^correct at 0\.\d{3}x the baseline/);
    expect(grace?.speed).toBeGreaterThan(0);
    expect(grace?.speed).toBeLessThan(1);
    // Right below the seats (the response cache fails by name and is not ranked).
    expect(grace?.rank).toBe(3);
    expect(summary.disqualified.map((d) => d.miner)).not.toContain("grace");
    expect(summary.chainWeights.map(([uid]) => uid)).not.toContain(grace?.uid);
    const row = formatDemoSummary(summary, 1)
      .split("\n")
      .find((l) => /^3\s+3\s+grace\s/.test(l));
    expect(row).toMatch(/below-bar\s+0\.\d{3}x\s+-\s+correct at/);
  });

  it("disqualifies the wrong model on correctness, the response cache on its probe finding, the copy as a copy", () => {
    const why = JSON.stringify(summary.disqualified);
    const disqualified = summary.disqualified.map((d) => d.miner);
    expect(disqualified.sort(), why).toEqual(["dave", "eve", "ferdie"]);
    expect(byMiner("dave")?.verdict).toBe("failed");
    expect(byMiner("dave")?.reason).toMatch(/correctness gate failed/);
    // Every repetition sends fresh prompts, so a response cache has nothing to replay but the
    // probes (which speed leaves out); the probe check (its repeat speed-up against the
    // baseline's) fails it by name.
    expect(byMiner("eve")?.verdict, why).toBe("failed");
    expect(byMiner("eve")?.reason).toMatch(
      /flagged by the agent: .*repeat-speedup: .*responses may be cached/,
    );
    expect(summary.chainWeights.map(([uid]) => uid)).not.toContain(byMiner("eve")?.uid);
    expect(byMiner("ferdie")?.verdict).toBe("copy");
    expect(byMiner("ferdie")?.reason).toMatch(/committed earlier/);
    // ...a copy of the leader's own submission, by content (its digest differs: only a label changed).
    const store = openStore({ path: join(demo?.dir ?? "", "controller.db"), readOnly: true });
    try {
      const subs = store.submissions.list();
      const ferdie = subs.find((s) => s.uid === 6);
      const bob = subs.find((s) => s.uid === 1);
      expect(ferdie?.copyOf).toBe(bob?.id);
      expect(ferdie?.digest).not.toBe(bob?.digest);
    } finally {
      store.close();
    }
  });

  it("sets 80/20 on chain: the leader at the top weight, the runner-up at a quarter of it", () => {
    expect(chainWeights).toEqual([
      [1, 65535],
      [2, 16384],
    ]);
    expect(summary.chainWeights).toEqual(chainWeights);
    const printed = formatDemoSummary(summary, 1);
    expect(printed).toMatch(/uid 1 bob 65535 \(80%\), uid 2 charlie 16384 \(20%\)/);
    expect(printed).toMatch(/^rank\s+uid\s+miner\s+role\s+verdict\s+speed \(x baseline\)\s+paid\s+why$/m);
    expect(printed).toMatch(/^1\s+1\s+bob\s+honest, fast\s+leader\s+1\.\d{3}x\s+80%\s+leads at/m);
    expect(printed).toMatch(/^2\s+2\s+charlie\s+.*runner-up\s+1\.\d{3}x\s+20%\s+runner-up at/m);
  });

  it("shows the outcome on the operators' page with a plot of the round", async () => {
    const board = (await (await fetch(`${demo?.webUrl}/api/leaderboard`)).json()) as {
      uid: number;
      rank: number;
    }[];
    expect(board.find((r) => r.rank === 1)?.uid).toBe(1);
    const page = await (await fetch(`${demo?.webUrl}/rounds/${summary.rounds[0]?.id}`)).text();
    expect(page).toContain("<svg");
  });

  it("ends by printing where the published leaderboard is, and the page and its JSON are there", () => {
    const printed = formatDemoSummary(summary, 1).trimEnd().split("\n");
    expect(printed.at(-1)).toBe(
      `published leaderboard: ${summary.publishedPage} (live: ${demo?.webUrl}/published/)`,
    );
    const folder = join(demo?.dir ?? "", "published");
    expect(summary.publishedPage).toBe(pathToFileURL(join(folder, "index.html")).href);
    const board = JSON.parse(readFileSync(join(folder, "leaderboard.json"), "utf8"));
    expect(board.schema).toBe("cacheon.leaderboard.v1");
    expect(board.standing.leader.uid).toBe(1);
    expect(readFileSync(join(folder, "index.html"), "utf8")).toContain('id="leaderboard-data"');
  });

  it("leaves none of its containers behind", async () => {
    expect(await containersOf(demo?.runTag ?? "")).toEqual([]);
  });
});

describe("the demo's edges", () => {
  it("refuses to empty a folder that holds something other than an earlier demo run", async () => {
    const dir = join(work, "foreign");
    mkdirSync(dir);
    writeFileSync(join(dir, "keep.txt"), "mine");
    await expect(startDemoLoop({ root, dir, signal: new AbortController().signal })).rejects.toThrow(
      /not empty and holds no earlier demo run/,
    );
    expect(readFileSync(join(dir, "keep.txt"), "utf8")).toBe("mine");
  });

  it("refuses bad flags with exit code 2", async () => {
    const { code, stderr } = await runDemoCli(["--block-time", "0"]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--block-time "0" must be a number of seconds/);
  }, 60_000);

  it("on SIGINT mid-round: stops the round, removes its containers, exits 130", async () => {
    const { code, stderr, runTag } = await runDemoCli(
      ["--dir", join(work, "interrupted"), "--web", "127.0.0.1:0"],
      (text) => /\]\s+\S.*: measure\n/.test(text),
    );
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/interrupted/);
    expect(runTag).toMatch(/^demo[0-9a-f]{6}$/);
    expect(await containersOf(runTag ?? "")).toEqual([]);
  }, 300_000);
});

/** Runs `cacheon-controller demo` as a process; sends SIGINT once `interruptWhen` matches its stderr. */
function runDemoCli(
  args: string[],
  interruptWhen?: (stderr: string) => boolean,
): Promise<{ code: number | null; stderr: string; runTag: string | undefined }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, "controller", "cli", "main.ts"), "demo", ...args], {
      env: { ...process.env, CACHEON_TEST_DOCKER_SOCKET: services.dockerSocket },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    let sent = false;
    child.stdout.resume();
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      if (!sent && interruptWhen?.(stderr)) {
        sent = true;
        child.kill("SIGINT");
      }
    });
    child.on("error", reject);
    child.on("close", (code) =>
      resolve({ code, stderr, runTag: /agent jobs (demo[0-9a-f]+)-\*/.exec(stderr)?.[1] }),
    );
  });
}
