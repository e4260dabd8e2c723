import type { Standing } from "../scoring/settle-standing.ts";
import type { LeaderboardRow } from "../web/leaderboard.ts";
import { type MinerReport, nextSteps, type ReportMeasurement } from "./miner-report.ts";
import type { RoundSummary } from "./round-summary.ts";

/**
 * Version of the published `leaderboard.json`. Within v1 fields are only ever added (a reader
 * ignores fields it does not know); removing or changing the meaning of one makes it v2.
 */
export const leaderboardSchema = "cacheon.leaderboard.v1";

/**
 * A content-addressed evidence bundle of one arm (timed outputs, job spec, hardware report,
 * container log), for re-judging a verdict offline with `cacheon-agent regrade`. Every arm of
 * the measurement's job is listed (the baselines' bundles are the reference); absent for jobs
 * run before agents made bundles.
 */
export interface EvidenceRef {
  armId: string;
  /** "sha256:<64 hex>" of the bundle. */
  digest: string;
  /** Where it is published, relative to leaderboard.json, when it is. */
  key?: string;
  bytes?: number;
}

/** The policy numbers a challenger is judged by, as the validator runs them. */
export interface PublishedPolicy {
  /** Smallest margin over the seat holder (0.01 = 1%). */
  minMargin: number;
  /** k in bar = 1 + max(minMargin, k x noise). */
  noiseMultiplier: number;
  /** Largest baseline bookend disagreement before a job is no decision. */
  bookendLimit: number;
  leaderShare: number;
  runnerUpShare: number;
}

/** The published policy of a controller's scoring and weight policies. */
export function publishedPolicy(
  scoring: { minMargin: number; noiseMultiplier: number; bookendLimit: number },
  weights: { leaderShare: number; runnerUpShare: number },
): PublishedPolicy {
  return {
    minMargin: scoring.minMargin,
    noiseMultiplier: scoring.noiseMultiplier,
    bookendLimit: scoring.bookendLimit,
    leaderShare: weights.leaderShare,
    runnerUpShare: weights.runnerUpShare,
  };
}

/** A paid seat. */
export interface PublishedSeat {
  hotkey: string;
  uid: number | null;
  submissionId: string;
  image: string | null;
  /** Paid speed against the baseline: the lower of the win and its reproduction. */
  settledSpeed: number;
  /** First round of the uninterrupted run of rounds this submission held the seat. */
  sinceRound: string | null;
}

/**
 * What a challenger had to clear to take the lead: the required ratio over the leader on the same
 * pod, 1 + max(minMargin, k x noise), as measured in the latest round that compared challengers
 * with this leader (median of those comparisons), or 1 + minMargin when none did yet.
 */
export interface PublishedBar {
  /** Leader's settled speed against the baseline. */
  leaderSpeed: number;
  /** Required ratio over the leader on the same pod. */
  ratio: number;
  /** leaderSpeed x ratio: about the speed against the baseline a challenger needs. */
  targetSpeed: number;
  /** Measured noise of those comparisons (median); null when none was measured. */
  noise: number | null;
  /** Round the figures come from; null when they are the policy's minimum. */
  roundId: string | null;
}

/** One round's verdict on a miner's submission, with the measurements behind it. */
export interface PublishedAttempt {
  roundId: string;
  roundNumber: number;
  submissionId: string;
  image: string | null;
  verdict: string;
  /** Speed against the baseline (0 when failed or unmeasured). */
  speed: number;
  settledSpeed: number;
  reason: string;
  measurements: (ReportMeasurement & { evidence?: EvidenceRef[] })[];
}

/** One hotkey's current submission and its history. */
export interface PublishedMiner {
  /** 1 = leader, 2 = runner-up, then correct submissions by settled speed; null unranked. */
  rank: number | null;
  hotkey: string;
  uid: number | null;
  submissionId: string;
  image: string | null;
  state: string;
  verdict: string;
  speed: number;
  reason: string;
  /** What to do next, from the latest report. */
  nextSteps: string[];
  /** Newest first, at most {@link maxAttemptsPerMiner}. */
  attempts: PublishedAttempt[];
}

/** One job attempt of a round, for the noise plots. */
export interface PublishedJob {
  jobId: string;
  podId: string | null;
  phase: string;
  decision: string | null;
  /** |B' - B| / mean of the baseline bookends; null when the job did not measure them. */
  bookendSpread: number | null;
}

/** A settled round in the history. */
export interface PublishedRound {
  id: string;
  number: number;
  block: number;
  createdAt: string;
  settledAt: string | null;
  /** Its full summary, relative to leaderboard.json. */
  summary: string;
  /** Submissions measured. */
  challengers: number;
  /** Submissions by verdict. */
  verdicts: Record<string, number>;
  leader: { hotkey: string; settledSpeed: number } | null;
  runnerUp: { hotkey: string; settledSpeed: number } | null;
  jobs: PublishedJob[];
}

/** `leaderboard.json`: the standing, every miner with reasons, and the history of rounds. */
export interface LeaderboardDocument {
  schema: typeof leaderboardSchema;
  generatedAt: string;
  policy: PublishedPolicy | null;
  standing: { leader: PublishedSeat | null; runnerUp: PublishedSeat | null };
  bar: PublishedBar | null;
  /** Ranked first, then unranked by hotkey. */
  miners: PublishedMiner[];
  /** Newest first, at most {@link maxPublishedRounds}. */
  rounds: PublishedRound[];
}

/** Plain data a leaderboard is built from (see readLeaderboardInput for the store's). */
export interface LeaderboardInput {
  generatedAtMs: number;
  policy?: PublishedPolicy | undefined;
  standing: Standing;
  /** Current submissions, ranked (controller/web/leaderboard.ts). */
  rows: LeaderboardRow[];
  /** Miners' reports of settled rounds, any order. */
  reports: MinerReport[];
  /** Settled rounds, any order. */
  rounds: RoundSummary[];
}

export const maxPublishedRounds = 200;
export const maxAttemptsPerMiner = 20;

/** Builds `leaderboard.json` from plain data. Pure. */
export function buildLeaderboardDocument(input: LeaderboardInput): LeaderboardDocument {
  const rounds = [...input.rounds].sort((a, b) => b.number - a.number).slice(0, maxPublishedRounds);
  const numberOf = new Map(input.rounds.map((r) => [r.roundId, r.number]));
  const uidOf = new Map(input.rows.map((r) => [r.hotkey, r.uid]));
  const imageOf = new Map(input.rows.map((r) => [r.submissionId, r.image]));
  for (const report of input.reports)
    if (!imageOf.has(report.submissionId)) imageOf.set(report.submissionId, report.image);
  const evidenceOf = new Map<string, EvidenceRef[]>();
  for (const round of input.rounds)
    for (const job of round.jobs) {
      const refs = job.arms.flatMap((arm): EvidenceRef[] =>
        arm.evidence
          ? [
              {
                armId: arm.armId,
                digest: arm.evidence.digest,
                bytes: arm.evidence.bytes,
                ...(arm.evidence.key ? { key: arm.evidence.key } : {}),
              },
            ]
          : [],
      );
      if (refs.length > 0) evidenceOf.set(job.jobId, refs);
    }
  const attemptsOf = new Map<string, PublishedAttempt[]>();
  for (const report of input.reports) {
    const list = attemptsOf.get(report.hotkey) ?? [];
    list.push({
      roundId: report.roundId,
      roundNumber: numberOf.get(report.roundId) ?? 0,
      submissionId: report.submissionId,
      image: report.image,
      verdict: report.verdict,
      speed: report.speed,
      settledSpeed: report.settledSpeed,
      reason: report.reason,
      measurements: report.measurements.map((m) => {
        const evidence = evidenceOf.get(m.jobId);
        return evidence ? { ...m, evidence } : m;
      }),
    });
    attemptsOf.set(report.hotkey, list);
  }
  const latestReport = new Map<string, MinerReport>();
  for (const report of input.reports) {
    const seen = latestReport.get(report.hotkey);
    if (!seen || (numberOf.get(report.roundId) ?? 0) >= (numberOf.get(seen.roundId) ?? 0))
      latestReport.set(report.hotkey, report);
  }
  const seat = (s: Standing["leader"], role: "leader" | "runnerUp"): PublishedSeat | null =>
    s
      ? {
          hotkey: s.hotkey,
          uid: uidOf.get(s.hotkey) ?? null,
          submissionId: s.submissionId,
          image: imageOf.get(s.submissionId) ?? null,
          settledSpeed: s.settledSpeed,
          sinceRound: heldSince(rounds, s.submissionId, role),
        }
      : null;
  const miners = input.rows.map((row): PublishedMiner => {
    const latest = latestReport.get(row.hotkey);
    return {
      rank: row.rank,
      hotkey: row.hotkey,
      uid: row.uid,
      submissionId: row.submissionId,
      image: row.image,
      state: row.state,
      verdict: row.verdict,
      speed: row.speed,
      reason: row.reason,
      // No round reported on it yet (sealed, waiting, or refused at intake): advice by its state.
      nextSteps:
        latest && latest.submissionId === row.submissionId
          ? latest.nextSteps
          : nextSteps({ verdict: row.state, reason: row.reason, minMargin: input.policy?.minMargin ?? 0 }),
      attempts: (attemptsOf.get(row.hotkey) ?? [])
        .sort((a, b) => b.roundNumber - a.roundNumber)
        .slice(0, maxAttemptsPerMiner),
    };
  });
  return {
    schema: leaderboardSchema,
    generatedAt: new Date(input.generatedAtMs).toISOString(),
    policy: input.policy ?? null,
    standing: {
      leader: seat(input.standing.leader, "leader"),
      runnerUp: seat(input.standing.runnerUp, "runnerUp"),
    },
    bar: barToBeat(input.standing, input.reports, numberOf, input.policy),
    miners,
    rounds: rounds.map(publishedRound),
  };
}

function publishedRound(r: RoundSummary): PublishedRound {
  const verdicts: Record<string, number> = {};
  for (const v of r.verdicts) verdicts[v.verdict] = (verdicts[v.verdict] ?? 0) + 1;
  const pick = (s: Standing["leader"]) => (s ? { hotkey: s.hotkey, settledSpeed: s.settledSpeed } : null);
  return {
    id: r.roundId,
    number: r.number,
    block: r.block,
    createdAt: r.createdAt,
    settledAt: r.settledAt,
    summary: `rounds/${r.roundId}/summary.json`,
    challengers: r.verdicts.length,
    verdicts,
    leader: pick(r.standingAfter?.leader),
    runnerUp: pick(r.standingAfter?.runnerUp),
    jobs: r.jobs.map((j) => ({
      jobId: j.jobId,
      podId: j.podId,
      phase: j.phase,
      decision: j.decision,
      bookendSpread: j.bookendSpread,
    })),
  };
}

/** The first round of the latest unbroken run in which `submissionId` held the seat. */
function heldSince(
  roundsNewestFirst: RoundSummary[],
  submissionId: string,
  role: "leader" | "runnerUp",
): string | null {
  let since: string | null = null;
  for (const r of roundsNewestFirst) {
    if (r.standingAfter?.[role]?.submissionId !== submissionId) break;
    since = r.roundId;
  }
  return since;
}

/**
 * What a challenger had to clear against the current leader: the median required ratio and noise
 * of the latest round that measured challengers against that leader.
 */
function barToBeat(
  standing: Standing,
  reports: MinerReport[],
  numberOf: Map<string, number>,
  policy: PublishedPolicy | undefined,
): PublishedBar | null {
  const leader = standing.leader;
  if (!leader) return null;
  const against = reports
    .flatMap((r) =>
      r.submissionId === leader.submissionId
        ? []
        : r.measurements
            .filter((m) => m.against?.seat === "leader" && Number.isFinite(m.against.bar))
            .map((m) => ({ roundId: r.roundId, bar: m.against?.bar ?? 0, noise: m.against?.noise ?? 0 })),
    )
    .filter((m) => m.bar > 0);
  const latestRound = against.reduce<string | null>(
    (best, m) =>
      best === null || (numberOf.get(m.roundId) ?? 0) > (numberOf.get(best) ?? 0) ? m.roundId : best,
    null,
  );
  const inRound = against.filter((m) => m.roundId === latestRound);
  if (inRound.length === 0) {
    if (!policy) return null;
    const ratio = 1 + policy.minMargin;
    return {
      leaderSpeed: leader.settledSpeed,
      ratio,
      targetSpeed: leader.settledSpeed * ratio,
      noise: null,
      roundId: null,
    };
  }
  const ratio = median(inRound.map((m) => m.bar));
  return {
    leaderSpeed: leader.settledSpeed,
    ratio,
    targetSpeed: leader.settledSpeed * ratio,
    noise: median(inRound.map((m) => m.noise)),
    roundId: latestRound,
  };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}
