import { type CliCommand, ExitCode } from "../../shared/cli/cli-command.ts";
import { controllerStatus } from "../web/controller-status.ts";
import { openConfiguredStore } from "./open-configured-store.ts";

/** `cacheon-controller status`: the store's view of submissions, the open round, the standing and weights. */
export const statusCommand: CliCommand = {
  name: "status",
  summary: "show submissions, the round in progress, who is paid and the last weights",
  help: `Usage: cacheon-controller status [--config FILE] [--store PATH] [--json]

Reads the controller's store (read-only; safe while \`serve\` runs) and prints submissions by
state, the round in progress and its jobs, the last settled round and where it was published,
the leader and runner-up, and the last weight setting with its outcome.

Options:
  --config FILE   configuration file (YAML or JSON)
  --store PATH    the SQLite store (default .cacheon/controller.db)
  --json          machine-readable output

Exit codes: 0 printed, 2 no store or invalid configuration.`,
  options: { config: { type: "string" }, store: { type: "string" } },
  async run(values, _positionals, io) {
    const store = openConfiguredStore(values, io);
    try {
      const s = controllerStatus(store);
      if (values.json) {
        io.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
        return ExitCode.ok;
      }
      const seat = (x: typeof s.standing.leader) =>
        x ? `${x.hotkey} (${x.submissionId}) at ${x.settledSpeed.toFixed(3)}x` : "none";
      const lines = [
        `store        ${s.store} (schema ${s.schemaVersion})`,
        `submissions  ${
          Object.entries(s.submissions)
            .map(([k, n]) => `${n} ${k}`)
            .join(", ") || "none"
        }`,
        `sealed       ${
          s.sealed
            .map(
              (p) =>
                `${p.hotkey} (uid ${p.uid}, drand round ${p.revealRound}, committed at block ${p.commitBlock})`,
            )
            .join(", ") || "none"
        }`,
        `open round   ${
          s.openRound
            ? `${s.openRound.id} ${s.openRound.state}, block ${s.openRound.block}, jobs ${Object.entries(
                s.openRound.jobs,
              )
                .map(([k, n]) => `${n} ${k}`)
                .join(", ")}, deadline ${s.openRound.deadline}`
            : "none"
        }`,
        `last round   ${s.lastRound ? `${s.lastRound.id} settled ${s.lastRound.settledAt}${s.lastRound.published ? `, published ${s.lastRound.published}` : ", not published yet"}` : "none"} (${s.rounds} in all)`,
        `leader       ${seat(s.standing.leader)}`,
        `runner-up    ${seat(s.standing.runnerUp)}`,
        `weights      ${s.lastWeights ? `${s.lastWeights.state} (block ${s.lastWeights.confirmedBlock ?? s.lastWeights.block}): ${s.lastWeights.uids.map((u, i) => `${u}=${s.lastWeights?.weights[i]}`).join(" ")}${s.lastWeights.error ? ` error: ${s.lastWeights.error}` : ""}` : "never set"}`,
      ];
      io.stdout.write(`${lines.join("\n")}\n`);
      return ExitCode.ok;
    } finally {
      store.close();
    }
  },
};
