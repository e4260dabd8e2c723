import { type CliCommand, ExitCode } from "../../shared/cli/cli-command.ts";
import { createProgressBar, type ProgressBar } from "../../shared/cli/progress-bar.ts";
import { loadConfig } from "../../shared/config/load-config.ts";
import { createLogger, type LogLevel } from "../../shared/log/logger.ts";
import { controllerConfigSchema, controllerEnvPrefix } from "../config/controller-config.ts";
import { resolveControllerSettings } from "./controller-settings.ts";

/** `cacheon-controller serve`: the controller's main loop. */
export const serveCommand: CliCommand = {
  name: "serve",
  summary:
    "run the controller: read commitments, run rounds, publish, set weights, serve the operators' page",
  help: `Usage: cacheon-controller serve [--config FILE] [--store PATH] [--chain URL,...] [--web HOST:PORT] [--once] [--json]

Every rounds.intervalSeconds: reads the subnet's commitments at the finalized head, runs a round
for new submissions (or resumes the one a stopped controller left), publishes settled rounds,
and sets weights when they changed or are due for refresh. Every step is recorded in the store
first, so stopping (even kill -9) and starting again loses nothing and sets no weight twice.
Serves the leaderboard, round plots, /metrics and /healthz on web.listen.

In agents.mode local, jobs run in this process on the local Docker engine (one local agent per
name in agents.localPods). In agents.mode remote, the control plane listens on
controlPlane.listen and jobs go to enrolled agents on pods (\`cacheon-controller mint-token\`
mints their enrolment tokens).

Options:
  --config FILE      configuration file (YAML or JSON); \`cacheon-controller config --reference\` lists every setting
  --store PATH       the SQLite store (default .cacheon/controller.db)
  --chain URL,...    Subtensor endpoints (default ws://127.0.0.1:9944)
  --web HOST:PORT    operators' page (default 127.0.0.1:8090; "" disables)
  --once             run one cycle and exit (prints its report)
  --json             machine-readable output (with --once)

Exit codes: 0 stopped cleanly (or --once done), 1 --once cycle failed, 2 invalid configuration or
a dependency (chain, store, Docker) unavailable at start, 130 interrupted.`,
  options: {
    config: { type: "string" },
    store: { type: "string" },
    chain: { type: "string" },
    web: { type: "string" },
    once: { type: "boolean" },
  },
  async run(values, _positionals, io) {
    const loaded = loadConfig({
      schema: controllerConfigSchema,
      file: values.config as string | undefined,
      env: io.env,
      envPrefix: controllerEnvPrefix,
      flags: values,
    });
    const settings = resolveControllerSettings(loaded.values, { forServe: true });
    const format = String(loaded.values["log.format"]);
    const logger = createLogger({
      level: loaded.values["log.level"] as LogLevel,
      format: format === "auto" ? undefined : (format as "json" | "pretty"),
      stream: io.stderr as never,
    });
    // Loaded here so --help and usage errors do not pay for @polkadot/api and dockerode.
    const { startController } = await import("./start-controller.ts");
    let bar: ProgressBar | undefined;
    let barTotal = 0;
    const controller = await startController({
      settings,
      logger,
      signal: io.signal,
      // A bar per round on the terminal (periodic lines elsewhere): jobs finished of jobs planned.
      onStep: (step) => {
        if (!bar || step.jobsTotal !== barTotal) {
          bar = createProgressBar({ label: step.roundId, total: step.jobsTotal, stream: io.stderr });
          barTotal = step.jobsTotal;
        }
        if (step.kind === "round-settled") {
          bar.finish(`settled`);
          bar = undefined;
        } else bar.update(step.jobsDone, `${step.jobsDone}/${step.jobsTotal} jobs (${step.kind})`);
      },
    });
    try {
      if (values.once) {
        const report = await controller.cycle();
        const out = {
          intake: report.intake,
          round: report.round
            ? { id: report.round.id, state: report.round.state, standing: report.round.standingAfter }
            : null,
          published: report.published,
          weights: { action: report.weights.action, reason: report.weights.reason },
          web: controller.webUrl,
        };
        io.stdout.write(values.json ? `${JSON.stringify(out, null, 2)}\n` : `${formatReport(out)}\n`);
        return ExitCode.ok;
      }
      logger.info("controller serving", { web: controller.webUrl, store: settings.storePath });
      await controller.serve();
      return io.signal.aborted ? ExitCode.interrupted : ExitCode.ok;
    } finally {
      await controller.close();
    }
  },
};

function formatReport(r: {
  intake: { pending: string[]; copies: string[]; malformed: string[] };
  round: { id: string } | null;
  published: string[];
  weights: { action: string; reason: string };
}): string {
  return [
    `intake     ${r.intake.pending.length} new, ${r.intake.copies.length} copies, ${r.intake.malformed.length} malformed`,
    `round      ${r.round ? r.round.id : "none (nothing pending)"}`,
    `published  ${r.published.join(", ") || "-"}`,
    `weights    ${r.weights.action}: ${r.weights.reason}`,
  ].join("\n");
}
