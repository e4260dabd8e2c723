import type { Logger } from "../../shared/log/logger.ts";
import { buildMinerReport, type ReportMeasurement } from "../publish/miner-report.ts";
import type { ScoringPolicy } from "../scoring/scoring-policy.ts";
import {
  type ChallengerEvidence,
  type ChallengerReading,
  compareSeats,
  type Seat,
  type Standing,
  settleStanding,
} from "../scoring/settle-standing.ts";
import type { ControllerStore } from "../store/controller-store.ts";
import type { RoundRow } from "../store/round-table.ts";
import type { SubmissionRow } from "../store/submission-table.ts";
import { type RoundJob, roundJobOf } from "./round-job.ts";
import { challengerEvidence, readingFor, readingsFor, sanitiseStanding } from "./round-readings.ts";

/** Options of {@link settleRound}. */
export interface SettleRoundOptions {
  store: ControllerStore;
  round: RoundRow;
  policy: ScoringPolicy;
  logger: Logger;
}

/**
 * Settles a round in one transaction: every challenger's verdict from its readings (copies and
 * withdrawn submissions named as such), seat holders that failed on two pods unseated, the new
 * standing, submission states and each miner's report. Returns the settled round.
 */
export function settleRound(options: SettleRoundOptions): RoundRow {
  const { store, policy } = options;
  const r = options.round;
  const roundId = r.id;
  const rlog = options.logger;
  const submission = (id: string) => store.submissions.get(id);
  const settled = store.transaction(() => {
    const jobs = store.jobs.list(roundId).map(roundJobOf);
    const reading = (id: string, phase: "evaluate" | "reproduce") => readingFor(jobs, id, phase, policy);
    // Every decided measurement, for the miner's report (the verdict rests on them pooled).
    const perJob = (id: string, phases: RoundJob["phase"][]) =>
      phases.flatMap((phase) => readingsFor(jobs, id, phase, policy).map((reading) => ({ phase, reading })));
    const before = r.standingBefore as Standing;
    const evidence: ChallengerEvidence[] = [];
    const special: { sub: SubmissionRow; verdict: string; reason: string }[] = [];
    for (const id of r.challengers) {
      const sub = store.submissions.get(id);
      if (!sub) continue;
      if (sub.state === "copy") special.push({ sub, verdict: "copy", reason: sub.reason });
      else if (sub.state !== "pending") special.push({ sub, verdict: "withdrawn", reason: sub.reason });
      else evidence.push(challengerEvidence(jobs, sub, policy));
    }
    // A seat holder that failed its gate on two or more pods this round (its image deleted,
    // broken, or wrong) loses the seat: it would otherwise be paid for a server that does not run.
    const failures = new Map(
      [before.leader, before.runnerUp]
        .filter((seat): seat is Seat => seat !== undefined)
        .map((seat) => [seat, seatFailures(jobs, seat.submissionId)] as const)
        .filter(([, pods]) => pods.size >= 2),
    );
    const unseated = new Set([...failures.keys()].map((seat) => seat.submissionId));
    const settlement = settleStanding(before, evidence, policy, unseated);
    for (const [seat, pods] of failures) {
      const reason = `the ${seat === before.leader ? "leader" : "runner-up"} failed its gate on ${pods.size} pods this round (${[...pods.values()].join("; ")}); it loses the seat`;
      const sub = store.submissions.get(seat.submissionId);
      if (sub) {
        store.submissions.setState(sub.id, "failed", reason, sub.copyOf);
        store.verdicts.put({
          roundId: r.id,
          submissionId: sub.id,
          hotkey: sub.hotkey,
          verdict: "failed",
          speed: 0,
          settledSpeed: 0,
          reason,
          evidence: {},
        });
        report(store, policy, r, sub, "failed", reason, 0, 0, undefined, []);
      }
      rlog.warn("seat holder failed on several pods; seat removed", {
        submission: seat.submissionId,
        pods: [...pods.keys()],
      });
    }
    const standing = sanitiseStanding(settlement.standing, submission);
    const ranked = rankOf(standing, settlement.verdicts);
    for (const v of settlement.verdicts) {
      const sub = store.submissions.get(v.submissionId) as SubmissionRow;
      const first = reading(v.submissionId, "evaluate");
      const repro = reading(v.submissionId, "reproduce");
      store.verdicts.put({ roundId: r.id, ...v, evidence: { first, reproduction: repro } });
      const next =
        v.verdict === "failed"
          ? "failed"
          : v.verdict === "no-result" || v.verdict === "awaiting-reproduction"
            ? "pending"
            : "evaluated";
      store.submissions.setState(sub.id, next, v.reason, sub.copyOf);
      report(
        store,
        policy,
        r,
        sub,
        v.verdict,
        v.reason,
        v.speed,
        v.settledSpeed,
        ranked.get(v.submissionId),
        perJob(v.submissionId, ["evaluate", "reproduce"]),
      );
    }
    for (const s of special) {
      store.verdicts.put({
        roundId: r.id,
        submissionId: s.sub.id,
        hotkey: s.sub.hotkey,
        verdict: s.verdict,
        speed: 0,
        settledSpeed: 0,
        reason: s.reason,
        evidence: {},
      });
      report(store, policy, r, s.sub, s.verdict, s.reason, 0, 0, undefined, perJob(s.sub.id, ["evaluate"]));
    }
    store.standings.append(r.id, standing);
    store.rounds.setState(r.id, "settled", standing);
    return store.rounds.get(r.id) as RoundRow;
  });
  return settled;
}

/** Pods (with the reason) on which a seat holder's arm failed its gate in this round. */
function seatFailures(jobs: readonly RoundJob[], submissionId: string): Map<string, string> {
  const pods = new Map<string, string>();
  for (const job of jobs) {
    const arm = job.score?.arms.find(
      (a) => a.submissionId === submissionId && (a.role === "leader" || a.role === "runner-up"),
    );
    if (arm?.gate === "fail" && job.podId) pods.set(job.podId, `${job.podId}: ${arm.reason}`);
  }
  return pods;
}

function report(
  store: ControllerStore,
  policy: ScoringPolicy,
  r: RoundRow,
  sub: SubmissionRow,
  verdict: string,
  reason: string,
  speed: number,
  settledSpeed: number,
  rank: number | undefined,
  readings: readonly { phase: RoundJob["phase"]; reading: ChallengerReading }[],
): void {
  const measurements: ReportMeasurement[] = readings.map(({ phase, reading: x }) => {
    const against = x.vsLeader
      ? { seat: "leader", c: x.vsLeader }
      : x.vsRunnerUp
        ? { seat: "runner-up", c: x.vsRunnerUp }
        : { seat: "baseline", c: x.vsBaseline };
    return {
      jobId: x.jobId,
      phase,
      podId: x.podId,
      gate: x.gate,
      speed: x.speed,
      against: { seat: against.seat, ratio: against.c.ratio, bar: against.c.bar, noise: against.c.noise },
      reason: x.reason,
    };
  });
  store.minerReports.put({
    roundId: r.id,
    hotkey: sub.hotkey,
    submissionId: sub.id,
    report: buildMinerReport({
      hotkey: sub.hotkey,
      submissionId: sub.id,
      image: sub.image,
      roundId: r.id,
      verdict,
      rank,
      speed,
      settledSpeed,
      reason,
      measurements,
      minMargin: policy.minMargin,
    }),
  });
}

function rankOf(
  standing: Standing,
  verdicts: { submissionId: string; settledSpeed: number; verdict: string }[],
): Map<string, number> {
  const ranks = new Map<string, number>();
  if (standing.leader) ranks.set(standing.leader.submissionId, 1);
  if (standing.runnerUp) ranks.set(standing.runnerUp.submissionId, 2);
  const rest = verdicts
    .filter(
      (v) =>
        !ranks.has(v.submissionId) &&
        v.settledSpeed > 0 &&
        (v.verdict === "below-bar" || v.verdict === "not-reproduced"),
    )
    .map((v) => ({ submissionId: v.submissionId, hotkey: "", commitBlock: 0, settledSpeed: v.settledSpeed }))
    .sort((a, b) => compareSeats(a, b, 0));
  let next = ranks.size + 1;
  for (const v of rest) ranks.set(v.submissionId, next++);
  return ranks;
}
