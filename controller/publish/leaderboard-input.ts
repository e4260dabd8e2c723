import type { Standing } from "../scoring/settle-standing.ts";
import type { ControllerStore } from "../store/controller-store.ts";
import { leaderboard } from "../web/leaderboard.ts";
import { type LeaderboardInput, maxPublishedRounds, type PublishedPolicy } from "./leaderboard-document.ts";
import type { MinerReport } from "./miner-report.ts";
import { roundSummary } from "./round-summary.ts";

/** Reads what the leaderboard is built from out of the store: ranked rows, reports, settled rounds. */
export function readLeaderboardInput(
  store: ControllerStore,
  options: { policy?: PublishedPolicy | undefined; nowMs?: number } = {},
): LeaderboardInput {
  const rows = leaderboard(store);
  const hotkeys = [...new Set(rows.map((r) => r.hotkey))];
  return {
    generatedAtMs: options.nowMs ?? store.now(),
    policy: options.policy,
    standing: store.standings.current<Standing>(),
    rows,
    reports: hotkeys.flatMap((hotkey) =>
      store.minerReports.list({ hotkey }).map((r) => r.report as MinerReport),
    ),
    rounds: store.rounds
      .list(maxPublishedRounds * 2)
      .filter((r) => r.state === "settled")
      .slice(0, maxPublishedRounds)
      .map((r) => roundSummary(store, r)),
  };
}
