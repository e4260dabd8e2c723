import { type CliCommand, ExitCode } from "../../shared/cli/cli-command.ts";
import { leaderboard } from "../web/leaderboard.ts";
import { openConfiguredStore } from "./open-configured-store.ts";

/** `cacheon-controller leaderboard`: every hotkey's current submission, ranked, with the reason. */
export const leaderboardCommand: CliCommand = {
  name: "leaderboard",
  summary: "rank every hotkey's current submission, with its verdict and why",
  help: `Usage: cacheon-controller leaderboard [--config FILE] [--store PATH] [--json]

Prints every registered hotkey's current submission: rank (1 leader, 2 runner-up, then correct
submissions by settled speed), uid, verdict, settled speed against the baseline, and the reason
of the last verdict. Reads the store read-only.

Options:
  --config FILE   configuration file (YAML or JSON)
  --store PATH    the SQLite store (default .cacheon/controller.db)
  --json          machine-readable output

Exit codes: 0 printed, 2 no store or invalid configuration.`,
  options: { config: { type: "string" }, store: { type: "string" } },
  async run(values, _positionals, io) {
    const store = openConfiguredStore(values, io);
    try {
      const rows = leaderboard(store);
      if (values.json) {
        io.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return ExitCode.ok;
      }
      if (rows.length === 0) {
        io.stdout.write("no submissions yet\n");
        return ExitCode.ok;
      }
      const table = rows.map((r) => [
        String(r.rank ?? "-"),
        String(r.uid ?? "-"),
        r.hotkey,
        r.verdict,
        r.speed ? `${r.speed.toFixed(3)}x` : "-",
        r.reason,
      ]);
      const head = ["rank", "uid", "hotkey", "verdict", "speed", "why"];
      const widths = head.map((h, i) =>
        Math.min(48, Math.max(h.length, ...table.map((row) => (row[i] ?? "").length))),
      );
      const fmt = (row: string[]) =>
        row
          .map((cell, i) =>
            i === row.length - 1
              ? cell
              : cell.length > (widths[i] ?? 0)
                ? `${cell.slice(0, (widths[i] ?? 1) - 1)}…`
                : cell.padEnd(widths[i] ?? 0),
          )
          .join("  ");
      io.stdout.write(`${[fmt(head), ...table.map(fmt)].join("\n")}\n`);
      return ExitCode.ok;
    } finally {
      store.close();
    }
  },
};
