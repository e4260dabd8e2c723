import { jobEvidenceDigests } from "../evidence/publish-round-evidence.ts";
import type { JobScore } from "../scoring/score-job.ts";
import type { Standing } from "../scoring/settle-standing.ts";
import type { ArmResultRow } from "../store/arm-result-table.ts";
import type { ControllerStore } from "../store/controller-store.ts";
import type { RoundRow } from "../store/round-table.ts";

/**
 * An arm's evidence bundle (`cacheon-agent regrade` judges it again offline): the digest the
 * agent named in its result, and where the round's publication put the bytes or why it did not.
 */
export interface SummaryEvidence {
  /** "sha256:<64 hex>" of the bundle's canonical bytes. */
  digest: string;
  bytes: number;
  /** Where it is published, relative to the publish root; null when it is not (see problem). */
  key: string | null;
  /** Why it is not published; absent when it is. */
  problem?: string;
}

/** One arm in a round summary: its stored result, the submitter's hotkey and its evidence bundle. */
export type SummaryArm = Omit<ArmResultRow, "jobId"> & { hotkey: string; evidence: SummaryEvidence | null };

/** One job attempt in a round summary. */
export interface SummaryJob {
  jobId: string;
  phase: string;
  slot: string;
  attempt: number;
  podId: string | null;
  state: string;
  decision: string | null;
  reason: string;
  baselineWallS: number | null;
  bookendSpread: number | null;
  arms: SummaryArm[];
}

/** Everything a round decided, for publication, the web page and audits. */
export interface RoundSummary {
  schema: "cacheon.round-summary.v1";
  roundId: string;
  number: number;
  block: number;
  blockHash: string;
  seed: string;
  state: string;
  createdAt: string;
  settledAt: string | null;
  standingBefore: Standing;
  standingAfter: Standing | null;
  jobs: SummaryJob[];
  verdicts: {
    submissionId: string;
    hotkey: string;
    verdict: string;
    speed: number;
    settledSpeed: number;
    reason: string;
  }[];
}

/** Builds a round's summary from the store. */
export function roundSummary(store: ControllerStore, round: RoundRow): RoundSummary {
  const hotkeyOf = new Map(store.submissions.list().map((s) => [s.id, s.hotkey]));
  const jobRows = store.jobs.list(round.id);
  const published = new Map(
    store.evidence.list(jobRows.map((j) => j.id)).map((e) => [`${e.jobId}/${e.armId}`, e]),
  );
  const jobs = jobRows.map((j): SummaryJob => {
    const score = j.score as JobScore | null;
    const evidence = new Map(
      jobEvidenceDigests(j).map((d): [string, SummaryEvidence] => {
        const row = published.get(`${j.id}/${d.armId}`);
        return [
          d.armId,
          {
            digest: `sha256:${d.sha256}`,
            bytes: Number(d.sizeBytes),
            key: row?.sha256 === d.sha256 ? row.publishedKey : null,
            ...(row?.sha256 === d.sha256 && row.publishedKey
              ? {}
              : { problem: row?.problem || "not published yet" }),
          },
        ];
      }),
    );
    return {
      jobId: j.id,
      phase: j.phase,
      slot: j.slot,
      attempt: j.attempt,
      podId: j.podId,
      state: j.state,
      decision: j.decision,
      reason: j.reason,
      baselineWallS: score?.baselineWallS ?? null,
      bookendSpread: score?.bookendSpread ?? null,
      arms: store.armResults.list(j.id).map(({ jobId: _, ...a }) => ({
        ...a,
        hotkey: hotkeyOf.get(a.submissionId) ?? "",
        evidence: evidence.get(a.armId) ?? null,
      })),
    };
  });
  return {
    schema: "cacheon.round-summary.v1",
    roundId: round.id,
    number: round.number,
    block: round.block,
    blockHash: round.blockHash,
    seed: round.seed,
    state: round.state,
    createdAt: new Date(round.createdAt).toISOString(),
    settledAt: round.settledAt === null ? null : new Date(round.settledAt).toISOString(),
    standingBefore: round.standingBefore as Standing,
    standingAfter: round.standingAfter as Standing | null,
    jobs,
    verdicts: store.verdicts.list({ roundId: round.id }).map((v) => ({
      submissionId: v.submissionId,
      hotkey: v.hotkey,
      verdict: v.verdict,
      speed: v.speed,
      settledSpeed: v.settledSpeed,
      reason: v.reason,
    })),
  };
}
