import { join } from "node:path";
import { type CliCommand, type CommandIo, ExitCode } from "../../shared/cli/cli-command.ts";
import { createProgressBar, type ProgressBar } from "../../shared/cli/progress-bar.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { createLogger } from "../../shared/log/logger.ts";
import type { DemoEvent, DemoPhase, DemoSummary } from "./demo-loop.ts";

const root = join(import.meta.dirname, "..", "..");

/** `cacheon-controller demo`: the whole loop on this machine (what `scripts/demo` runs). */
export const demoCommand: CliCommand = {
  name: "demo",
  summary: "run the whole loop on this machine: local chain, miners, controller, local agents, page",
  help: `Usage: cacheon-controller demo [--dir DIR] [--web HOST:PORT] [--chain-port N] [--block-time S] [--json]

The main job on embedded defaults, on one machine. Builds the reference server images (sim-llm)
into the local registry, starts a local Subtensor chain (subnet 1: //Alice validates; //Bob,
//Charlie, //Grace, //Dave, //Eve and //Ferdie mine; wallets written to DIR/wallets), the
controller with its store in DIR, two local agents on the Docker engine (hardware profile "none")
and the operators' page. The miners commit through \`cacheon-miner commit\`: an honest server 10%
faster than the baseline, one 5% faster, one 5% slower, a wrong model, a response cache, and a
relabelled copy of the leader. The controller runs a round, reproduces the wins on the other local
agent, and sets weights on the chain: 80% to the leader, 20% to the runner-up, nothing to the
slower server (correct, but below the baseline) nor to the disqualified ones. The leaderboard and
the weights read back from the chain are printed at the end.

On a terminal the page keeps being served until Ctrl-C; otherwise the command exits when the
leader is paid. Ctrl-C at any time stops the round, removes its containers and closes the chain
and the servers.

Needs the Docker engine and the registry of \`scripts/test-env start\` (scripts/demo starts them).

Options:
  --dir DIR          state of the run, emptied at start (default .cacheon/demo)
  --web HOST:PORT    operators' page (default 127.0.0.1:8090; port 0 picks a free one)
  --chain-port N     port of the local chain (default 0: a free one)
  --block-time S     seconds between blocks (default 1)
  --json             print a machine-readable summary on stdout at the end (progress stays on stderr)

Exit codes: 0 a leader was crowned and paid on chain, 1 the loop ran but paid no leader,
2 a dependency (Docker, registry) unavailable or bad flags, 130 interrupted.`,
  options: {
    dir: { type: "string" },
    web: { type: "string" },
    "chain-port": { type: "string" },
    "block-time": { type: "string" },
  },
  async run(values, _positionals, io) {
    const chainPort = Number(values["chain-port"] ?? 0);
    if (!Number.isInteger(chainPort) || chainPort < 0 || chainPort > 65535)
      throw new CacheonError(
        "invalid-argument",
        `--chain-port "${values["chain-port"]}" must be a port 0-65535`,
      );
    const blockTime = Number(values["block-time"] ?? 1);
    if (!Number.isFinite(blockTime) || blockTime < 0.1 || blockTime > 12)
      throw new CacheonError(
        "invalid-argument",
        `--block-time "${values["block-time"]}" must be a number of seconds from 0.1 to 12`,
      );
    const started = performance.now();
    const { startDemoLoop } = await import("./demo-loop.ts");
    const view = terminalView(io);
    const demo = await startDemoLoop({
      root,
      dir: typeof values.dir === "string" ? values.dir : undefined,
      webListen: typeof values.web === "string" ? values.web : undefined,
      chainPort,
      blockTimeSeconds: blockTime,
      signal: io.signal,
      onEvent: view.onEvent,
      logger: createLogger({ level: "warn", stream: io.stderr as never }),
    });
    try {
      io.stderr.write(`chain   ${demo.chainUrl} (subnet 1, a block every ${blockTime} s)\n`);
      io.stderr.write(`page    ${demo.webUrl ?? "(disabled)"}\n`);
      io.stderr.write(`state   ${demo.dir} (agent jobs ${demo.runTag}-*)\n`);
      const summary = await demo.run();
      if (io.signal.aborted) throw new CacheonError("cancelled", "interrupted");
      const totalS = (performance.now() - started) / 1000;
      io.stdout.write(
        values.json
          ? `${JSON.stringify({ ...summary, totalSeconds: totalS }, null, 2)}\n`
          : `${formatDemoSummary(summary, totalS)}\n`,
      );
      if (!summary.paid) return ExitCode.negative;
      if (io.stdout.isTTY && !values.json) {
        io.stderr.write(`\nserving the page at ${demo.webUrl} until Ctrl-C\n`);
        await new Promise<void>((resolve) => {
          if (io.signal.aborted) resolve();
          io.signal.addEventListener("abort", () => resolve(), { once: true });
        });
        return ExitCode.interrupted;
      }
      return ExitCode.ok;
    } catch (error) {
      if (io.signal.aborted) {
        io.stderr.write("interrupted: stopping the round, removing its containers, closing the chain\n");
        return ExitCode.interrupted;
      }
      throw error;
    } finally {
      await demo.close();
      view.finish();
    }
  },
};

const phaseTitles: Record<DemoPhase, string> = {
  images: "images",
  chain: "chain",
  controller: "controller",
  commits: "commits",
  rounds: "rounds",
  summary: "summary",
};

/** Progress lines on stderr: phases, an image progress bar, commits, jobs and arms. */
function terminalView(io: CommandIo) {
  const out = io.stderr;
  let imageBar: ProgressBar | undefined;
  let phaseNumber = 0;
  const lastPhase = new Map<string, string>();
  const onEvent = (e: DemoEvent) => {
    switch (e.kind) {
      case "phase":
        imageBar?.finish();
        imageBar = undefined;
        phaseNumber += 1;
        out.write(`==> [${phaseNumber}/6] ${phaseTitles[e.phase]}: ${e.message}\n`);
        break;
      case "image":
        imageBar ??= createProgressBar({ label: "sim images", total: e.total, stream: out });
        imageBar.update(e.done, e.name);
        break;
      case "committed":
        out.write(
          `    ${e.miner.name.padEnd(8)} uid ${e.uid}  ${e.miner.role.padEnd(19)} block ${String(e.block).padEnd(5)} ${e.reference}\n`,
        );
        break;
      case "job":
        out.write(`    [${e.podId}] job ${e.jobId}: ${e.arms} arms\n`);
        break;
      case "arm": {
        // One line per arm and phase ("pull", "start", "measure", ...), not per request.
        const key = `${e.jobId}/${e.armId}`;
        if (!e.armId || lastPhase.get(key) === e.phase) break;
        lastPhase.set(key, e.phase);
        out.write(`    [${e.podId}]   ${e.who}: ${e.phase}\n`);
        break;
      }
      case "arm-finished":
        out.write(
          `    [${e.podId}]   ${e.who}: ${e.outcome}${e.wallS > 0 ? `, wall ${e.wallS.toFixed(2)} s` : ""}${e.reason ? ` (${e.reason})` : ""}\n`,
        );
        break;
      case "cycle": {
        const r = e.report;
        out.write(
          `    cycle ${e.cycle}: ${r.intake.pending.length} new submissions, round ${r.round ? `${r.round.id} ${r.round.state}` : "none"}, weights ${r.weights.action} (${r.weights.reason})\n`,
        );
        break;
      }
    }
  };
  return { onEvent, finish: () => imageBar?.finish() };
}

/** A reason cut to fit a table cell; the full text is in the disqualified list, --json and the page. */
function brief(reason: string, max = 72): string {
  if (!reason) return "-";
  return reason.length <= max ? reason : `${reason.slice(0, max - 1).trimEnd()}…`;
}

/** The final report: leaderboard, disqualifications with reasons, weights on chain, durations. */
export function formatDemoSummary(s: DemoSummary, totalSeconds: number): string {
  const speed = (x: number) => (x > 0 ? `${x.toFixed(3)}x` : "-");
  const total = s.chainWeights.reduce((sum, [, w]) => sum + w, 0);
  const share = (uid: number | null) => {
    const w = s.chainWeights.find(([u]) => u === uid)?.[1] ?? 0;
    return w > 0 && total > 0 ? `${((100 * w) / total).toFixed(0)}%` : "-";
  };
  const head = ["rank", "uid", "miner", "role", "verdict", "speed (x baseline)", "paid", "why"];
  const rows = s.standings.map((r) => [
    String(r.rank ?? "-"),
    String(r.uid ?? "-"),
    r.miner,
    r.role,
    r.verdict,
    speed(r.speed),
    share(r.uid),
    brief(r.reason),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? "").length)));
  const line = (row: string[]) =>
    row
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  const minerOf = (uid: number) =>
    s.standings.find((r) => r.uid === uid)?.miner ?? (uid === 0 ? "burn" : "?");
  const lines = [
    "",
    s.paid
      ? `leader: ${s.leader?.miner} (uid ${s.leader?.uid}, ${speed(s.leader?.speed ?? 0)} the baseline), runner-up: ${s.runnerUp ? `${s.runnerUp.miner} (uid ${s.runnerUp.uid}, ${speed(s.runnerUp.speed)})` : "none"}`
      : `no leader was paid after ${s.cycles} controller cycles; see ${s.dir} and the page`,
    "",
    line(head),
    ...rows.map(line),
    "",
    "disqualified (full reasons):",
    ...(s.disqualified.length > 0
      ? s.disqualified.map((d) => `  ${d.miner} (uid ${d.uid ?? "-"}): ${d.verdict}: ${d.reason || "-"}`)
      : ["  none"]),
    "",
    `weights on chain (validator uid 0, subnet 1): ${
      s.chainWeights.length > 0
        ? s.chainWeights
            .map(([uid, w]) => `uid ${uid} ${minerOf(uid)} ${w} (${((100 * w) / total).toFixed(0)}%)`)
            .join(", ")
        : "none"
    }`,
    `rounds: ${s.rounds.map((r) => `${r.id} ${r.state}, ${r.jobs.length} jobs (${r.jobs.filter((j) => j.phase === "reproduce").length} reproductions)`).join("; ") || "none"}`,
    `took ${totalSeconds.toFixed(0)} s (${Object.entries(s.seconds)
      .map(([phase, sec]) => `${phase} ${(sec ?? 0).toFixed(0)} s`)
      .join(", ")})`,
    `operators' page: ${s.webUrl ?? "(disabled)"}`,
    // Last, so it is what the terminal shows when the demo ends.
    s.publishedPage
      ? `published leaderboard: ${s.publishedPage}${s.webUrl ? ` (live: ${s.webUrl}/published/)` : ""}`
      : `published leaderboard: none yet (no round was published; see ${s.dir})`,
  ];
  return lines.join("\n");
}
