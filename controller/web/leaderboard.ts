import { pendingTimelocked } from "../intake/ingest-commitments.ts";
import type { Standing } from "../scoring/settle-standing.ts";
import type { ControllerStore } from "../store/controller-store.ts";
import type { SubmissionState } from "../store/submission-table.ts";

/** One row of the leaderboard. */
export interface LeaderboardRow {
  /** 1 = leader, 2 = runner-up, then correct submissions by settled speed; null when unranked. */
  rank: number | null;
  hotkey: string;
  uid: number | null;
  submissionId: string;
  image: string | null;
  /** "sealed": a drand-timelocked commitment the chain has not revealed yet. */
  state: SubmissionState | "sealed";
  /** Latest verdict, "" before the first round that measured it. */
  verdict: string;
  /** Settled speed against the baseline (0 when failed or unmeasured). */
  speed: number;
  reason: string;
}

const shown: readonly SubmissionState[] = ["pending", "evaluated", "failed", "copy", "malformed", "unpaid"];

/** The current submission of every registered hotkey, ranked. */
export function leaderboard(store: ControllerStore): LeaderboardRow[] {
  const standing = store.standings.current<Standing>();
  const rows = store.submissions.list({ states: shown }).map((s): LeaderboardRow => {
    const latest = store.verdicts.list({ submissionId: s.id }).at(-1);
    return {
      rank: null,
      hotkey: s.hotkey,
      uid: s.uid,
      submissionId: s.id,
      image: s.image,
      state: s.state,
      verdict: latest?.verdict ?? (s.state === "pending" ? "waiting for a round" : s.state),
      speed: latest?.settledSpeed ?? 0,
      reason: latest?.reason ?? s.reason,
    };
  });
  for (const p of pendingTimelocked(store))
    rows.push({
      rank: null,
      hotkey: p.hotkey,
      uid: p.uid ?? null,
      submissionId: "",
      image: null,
      state: "sealed",
      verdict: `sealed until drand round ${p.revealRound}`,
      speed: 0,
      reason: `timelocked commitment of block ${p.commitBlock}: evaluated once the chain reveals it`,
    });
  const seat = (id: string | undefined) => rows.find((r) => r.submissionId === id);
  const leader = seat(standing.leader?.submissionId);
  const runnerUp = seat(standing.runnerUp?.submissionId);
  if (leader) {
    leader.rank = 1;
    leader.speed = standing.leader?.settledSpeed ?? leader.speed;
  }
  if (runnerUp) {
    runnerUp.rank = 2;
    runnerUp.speed = standing.runnerUp?.settledSpeed ?? runnerUp.speed;
  }
  let next = (leader ? 1 : 0) + (runnerUp ? 1 : 0) + 1;
  const ranked = rows
    .filter((r) => r.rank === null && r.state === "evaluated" && r.speed > 0)
    .sort((a, b) => b.speed - a.speed);
  for (const r of ranked) r.rank = next++;
  return rows.sort((a, b) => (a.rank ?? 1e9) - (b.rank ?? 1e9) || a.hotkey.localeCompare(b.hotkey));
}
