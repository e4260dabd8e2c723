import { type PendingTimelockedCommitment, pendingTimelocked } from "../intake/ingest-commitments.ts";
import type { Standing } from "../scoring/settle-standing.ts";
import type { ControllerStore } from "../store/controller-store.ts";
import type { WeightSettingRow } from "../store/weight-setting-table.ts";

/** What an operator wants to know at a glance. */
export interface ControllerStatus {
  store: string;
  schemaVersion: number;
  submissions: Record<string, number>;
  /** Timelocked commitments still sealed at the last intake (evaluated once the chain reveals them). */
  sealed: PendingTimelockedCommitment[];
  openRound: {
    id: string;
    state: string;
    block: number;
    jobs: Record<string, number>;
    deadline: string;
  } | null;
  lastRound: { id: string; settledAt: string | null; published: string | null } | null;
  rounds: number;
  standing: Standing;
  lastWeights: Pick<
    WeightSettingRow,
    "id" | "block" | "uids" | "weights" | "state" | "confirmedBlock" | "error" | "reason"
  > | null;
}

/** Reads the status from the store. */
export function controllerStatus(store: ControllerStore): ControllerStatus {
  const count = <T>(items: T[], key: (t: T) => string) => {
    const out: Record<string, number> = {};
    for (const i of items) out[key(i)] = (out[key(i)] ?? 0) + 1;
    return out;
  };
  const open = store.rounds.open();
  const rounds = store.rounds.list(1000);
  const last = rounds.find((r) => r.state === "settled");
  const w = store.weightSettings.list({ limit: 1 })[0];
  return {
    store: store.path,
    schemaVersion: store.schemaVersion(),
    submissions: count(store.submissions.list(), (s) => s.state),
    sealed: pendingTimelocked(store),
    openRound: open
      ? {
          id: open.id,
          state: open.state,
          block: open.block,
          jobs: count(store.jobs.list(open.id), (j) => j.state),
          deadline: new Date(open.deadlineMs).toISOString(),
        }
      : null,
    lastRound: last
      ? {
          id: last.id,
          settledAt: last.settledAt ? new Date(last.settledAt).toISOString() : null,
          published: last.publishLocation,
        }
      : null,
    rounds: rounds.length,
    standing: store.standings.current<Standing>(),
    lastWeights: w
      ? {
          id: w.id,
          block: w.block,
          uids: w.uids,
          weights: w.weights,
          state: w.state,
          confirmedBlock: w.confirmedBlock,
          error: w.error,
          reason: w.reason,
        }
      : null,
  };
}
