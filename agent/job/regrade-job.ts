import { clone, equals, toJson } from "@bufbuild/protobuf";
import type { JudgeTokenizer } from "../../shared/correctness/check-integrity.ts";
import type { CorrectnessThresholds } from "../../shared/correctness/correctness-thresholds.ts";
import type { GeneratedOutput } from "../../shared/correctness/generated-output.ts";
import type { TeacherForcedOutput } from "../../shared/correctness/teacher-forced-output.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import type { EvidenceBundle } from "../../shared/evidence/evidence-bundle.ts";
import { CorrectnessSummarySchema } from "../../shared/gen/cacheon/v1/correctness_pb.ts";
import { ArmRole } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { TokenKTimingSchema } from "../../shared/gen/cacheon/v1/metrics_pb.ts";
import { type ArmResult, ArmResultSchema } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { silentLogger } from "../../shared/log/logger.ts";
import type { ArmContainer } from "../containers/arm-container.ts";
import { evidencedFindings } from "./evidenced-findings.ts";
import { jobTimeToTokenK } from "./job-time-to-token-k.ts";
import { judgeArms } from "./judge-arms.ts";
import { type ArmRun, enumName } from "./run-arm.ts";

/** One arm's verdict as recorded by the agent and as judged again from its evidence. */
export interface RegradedArm {
  armId: string;
  role: string;
  /** The recorded verdict in one line: pass, fail (codes), no decision (why), not judged. */
  recorded: string;
  /** The same line for the re-judgement. */
  regraded: string;
  /** True when correctness, the judge's findings and the times to token k are all the same. */
  same: boolean;
  /** What differs, one line each; empty when the same. */
  differences: string[];
}

/** A job judged again from its arms' bundles. */
export interface RegradedJob {
  jobId: string;
  roundId: string;
  /** sha256 of the job every bundle holds. */
  jobSha256: string;
  /** Arms of the job with no bundle among those given (not judged again; named here). */
  missing: string[];
  arms: RegradedArm[];
  /** True when every arm given was judged the same and none is missing. */
  same: boolean;
}

/** Options of {@link regradeJob}. */
export interface RegradeOptions {
  /** The reference's tokenizer (the agent judges with Qwen2.5's). */
  tokenizer: JudgeTokenizer;
  signal?: AbortSignal;
}

/** The endpoint the replayed closing baseline "serves" at: nothing is ever sent there. */
const replayEndpoint = "evidence-replay:";

/**
 * Judges a job again from its arms' evidence bundles with the agent's own judging code (judgeArms
 * and the times to token k), replaying the closing baseline's teacher forcing as recorded instead
 * of asking a server, and compares each arm's verdict with the one the agent recorded. Every
 * bundle must be of the same job (one jobSha256); the opening and closing baselines' bundles are
 * needed to judge anything (their outputs are the reference, their agreement the calibration).
 * The findings an arm carried into judging are rebuilt from its evidence (evidencedFindings): one
 * recorded without support, or left out, is a difference.
 * What cannot be judged again is said, never passed: a missing bundle makes the job not the same.
 * Throws CacheonError("invalid-argument") when the bundles are not one job's.
 */
export async function regradeJob(
  bundles: readonly EvidenceBundle[],
  options: RegradeOptions,
): Promise<RegradedJob> {
  const first = bundles[0];
  if (!first) throw new CacheonError("invalid-argument", "no evidence bundles to regrade");
  const job = first.job;
  const byArm = new Map<string, EvidenceBundle>();
  for (const b of bundles) {
    if (b.jobSha256 !== first.jobSha256)
      throw new CacheonError(
        "invalid-argument",
        `bundle of arm ${b.armId} is of job ${b.job.jobId} (${b.jobSha256}), not ${job.jobId} (${first.jobSha256}); regrade one job at a time`,
      );
    if (byArm.has(b.armId) && !equals(ArmResultSchema, byArm.get(b.armId)?.result as ArmResult, b.result))
      throw new CacheonError("invalid-argument", `two different bundles for arm ${b.armId}`);
    byArm.set(b.armId, b);
  }
  const missing = job.arms.map((a) => a.armId).filter((id) => !byArm.has(id));
  const opening = job.arms[0];
  const closingArm = job.arms.findLast((a) => a.role === ArmRole.CLOSING_BASELINE);
  const bookendsMissing = [opening, closingArm].filter((a) => a && !byArm.has(a.armId));

  // The arms as they stood when the agent's judging began, in the job's order, with the findings
  // their evidence gives in place of the recorded ones.
  const runs = new Map<string, ArmRun>();
  const judged = new Set<string>();
  const unsupported = new Map<string, string[]>();
  for (const arm of job.arms) {
    const b = byArm.get(arm.armId);
    if (!b?.judgedFrom) continue;
    judged.add(arm.armId);
    const result = clone(ArmResultSchema, b.judgedFrom);
    const evidenced = evidencedFindings(result, b.judge.expectedGpus);
    if (result.summary) result.summary.findings = evidenced.findings;
    unsupported.set(arm.armId, [
      ...evidenced.unexplained.map((f) => `recorded before judging, not given by its evidence: ${f}`),
      ...evidenced.missing.map((f) => `given by its GPU figures, not recorded: ${f}`),
    ]);
    runs.set(arm.armId, {
      result,
      ...(b.measurement && result.summary
        ? {
            measurement: {
              summary: result.summary,
              requests: b.measurement.requests,
              outputs: b.measurement.outputs,
              prompts: [],
            },
          }
        : {}),
    });
  }
  // The closing baseline's server was up for judging exactly when it scored some arm's outputs.
  const closingRun = closingArm ? runs.get(closingArm.armId) : undefined;
  const scoredBy = [...byArm.values()].some(
    (b) => b.teacherForced && b.teacherForced.by === closingArm?.armId,
  );
  const closing =
    closingRun && scoredBy
      ? { ...closingRun, container: { endpoint: replayEndpoint } as ArmContainer }
      : closingRun;
  if (closing && closingArm) runs.set(closingArm.armId, closing);
  if (bookendsMissing.length === 0 && runs.size > 0) {
    const armOf = new Map<GeneratedOutput[], string>();
    for (const [armId, run] of runs) if (run.measurement) armOf.set(run.measurement.outputs, armId);
    const settings = first.judge;
    await judgeArms({
      runs: job.arms.flatMap((a) => runs.get(a.armId) ?? []),
      closing: scoredBy ? closing : undefined,
      workload: job.workload ?? ({} as never),
      teacherForce: async ({ outputs }) => {
        const armId = armOf.get(outputs) ?? "";
        const recorded = byArm.get(armId)?.teacherForced;
        if (!recorded)
          throw new CacheonError(
            "not-found",
            `no teacher forcing of arm ${armId}'s outputs is in its bundle`,
          );
        if (recorded.state === "failed") throw new CacheonError("unavailable", recorded.reason);
        return recorded.outputs as unknown as TeacherForcedOutput[];
      },
      tokenizer: options.tokenizer,
      ...(settings.thresholds !== undefined
        ? { thresholds: settings.thresholds as unknown as CorrectnessThresholds }
        : {}),
      ...(settings.calibrationMultiplier !== undefined
        ? { calibrationMultiplier: settings.calibrationMultiplier }
        : {}),
      ...(settings.probeMargin !== undefined ? { probeMargin: settings.probeMargin } : {}),
      ...(settings.outlierFactor !== undefined ? { outlierFactor: settings.outlierFactor } : {}),
      signal: options.signal ?? new AbortController().signal,
      progress: () => {},
      logger: silentLogger,
    });
    jobTimeToTokenK(runs, job);
  }

  const arms = job.arms.flatMap((arm): RegradedArm[] => {
    const b = byArm.get(arm.armId);
    if (!b) return [];
    const role = enumName(ArmRole, arm.role).toLowerCase().replaceAll("_", "-");
    const recorded = verdictLine(b.result);
    if (!judged.has(arm.armId))
      return [
        {
          armId: arm.armId,
          role,
          recorded,
          regraded: "not judged (the job stopped before judging)",
          // Nothing was judged: the same only when the agent recorded no verdict either.
          same: b.result.correctness === undefined,
          differences:
            b.result.correctness === undefined
              ? []
              : ["a verdict is recorded but the job never got to judging"],
        },
      ];
    if (bookendsMissing.length > 0)
      return [
        {
          armId: arm.armId,
          role,
          recorded,
          regraded: `cannot judge: no bundle of ${bookendsMissing.map((a) => a?.armId).join(" and ")}`,
          same: false,
          differences: ["the baselines' bundles are needed to judge any arm"],
        },
      ];
    const again = runs.get(arm.armId)?.result as ArmResult;
    const differences = [...(unsupported.get(arm.armId) ?? []), ...compareVerdicts(b.result, again)];
    return [
      {
        armId: arm.armId,
        role,
        recorded,
        regraded: verdictLine(again),
        same: differences.length === 0,
        differences,
      },
    ];
  });
  return {
    jobId: job.jobId,
    roundId: job.roundId,
    jobSha256: first.jobSha256,
    missing,
    arms,
    same: missing.length === 0 && arms.every((a) => a.same),
  };
}

/** An arm's verdict in one line. */
export function verdictLine(result: ArmResult): string {
  const c = result.correctness;
  const findings = result.summary?.findings ?? [];
  const flagged = findings.length > 0 ? `; flagged: ${findings.map((f) => f.split(":")[0]).join(", ")}` : "";
  if (!c) return `not judged${flagged}`;
  if (c.noDecisionReason) return `no decision: ${c.noDecisionReason}${flagged}`;
  if (c.passed) return `pass${flagged}`;
  const codes = [...new Set(c.promptsEvidence.flatMap((e) => e.reasonCodes))];
  return `fail${codes.length > 0 ? ` (${codes.join(", ")})` : ""}${flagged}`;
}

/**
 * What differs between the recorded verdict and the re-judgement: the correctness summary, the
 * findings (the recorded list may go on with findings added after judging, the GPU release
 * checks of the kept closing baseline), the times to token k.
 */
function compareVerdicts(recorded: ArmResult, again: ArmResult): string[] {
  const differences: string[] = [];
  const json = (c: ArmResult["correctness"]) =>
    c ? JSON.stringify(toJson(CorrectnessSummarySchema, c)) : "none";
  if (json(recorded.correctness) !== json(again.correctness))
    differences.push(`correctness: recorded ${verdictLine(recorded)}, judged again ${verdictLine(again)}`);
  const was = recorded.summary?.findings ?? [];
  const now = again.summary?.findings ?? [];
  if (now.some((f, i) => was[i] !== f))
    differences.push(`findings: recorded [${was.join("; ")}], judged again [${now.join("; ")}]`);
  const tokenK = (r: ArmResult) => JSON.stringify(r.tokenK.map((t) => toJson(TokenKTimingSchema, t)));
  if (tokenK(recorded) !== tokenK(again)) differences.push("times to token k differ");
  return differences;
}
