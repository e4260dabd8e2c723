import type { PodComparison } from "../../controller/scoring/score-job.ts";
import type { Promotion } from "../../controller/scoring/settle-standing.ts";
import { type PromptEvidence, PromptVerdict } from "../../shared/gen/cacheon/v1/correctness_pb.ts";
import { ArmOutcome } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { median } from "../../shared/stats/summarise.ts";
import { type Evaluation, evaluatedId } from "./evaluate-image.ts";

/** The round verdict a promotion leads to once a second pod reproduces it (the controller's names). */
export function verdictOfPromotion(promotion: Promotion): string {
  switch (promotion) {
    case "candidate-leader":
      return "leader";
    case "candidate-runner-up":
      return "runner-up";
    default:
      return promotion;
  }
}

/** The plain answer, with the figures behind it: what `cacheon-miner evaluate` prints and writes. */
export interface EvaluationAnswer {
  /** leader, runner-up, below-bar, failed or no-result: what a validator's round would conclude. */
  verdict: string;
  /** One sentence: would it take the lead, be paid as runner-up, or why not. */
  answer: string;
  /** What to do next. */
  nextStep: string;
  /** Your speed against the baseline (the controller's statistic), 0 when failed. */
  speed: number;
  /** The comparison that decided: against the leader's seat when one ran, else the baseline. */
  bar: { against: "leader" | "baseline"; ratio: number; needed: number; noise: number } | null;
  /** Each timed prompt: time to first token and end to end (ms, median over repetitions), and its correctness. */
  prompts: {
    promptId: string;
    kind: string;
    ttftMs: number;
    e2eMs: number;
    verdict: string;
    reasons: string[];
  }[];
  /** Why correctness failed, one line each (empty when it passed). */
  correctness: string[];
  /** Findings of the agent that fail an image (caches, replays, held GPUs, ...). */
  findings: string[];
}

/** Builds the answer from an evaluation. Pure. */
export function evaluationAnswer(evaluation: Evaluation): EvaluationAnswer {
  const { reading, promotion, result, job } = evaluation;
  const mine = job.arms.find((a) => a.submissionId === evaluatedId);
  const arm = result.arms.find((a) => a.armId === mine?.armId);
  const verdict = verdictOfPromotion(promotion);
  const comparison: PodComparison | undefined = reading?.vsLeader ?? reading?.vsBaseline;
  const bar =
    comparison && reading?.gate === "pass"
      ? {
          against: reading?.vsLeader ? ("leader" as const) : ("baseline" as const),
          ratio: comparison.ratio,
          needed: comparison.bar,
          noise: comparison.noise,
        }
      : null;
  const pct = (x: number) => `${((x - 1) * 100).toFixed(1)}%`;
  const barText = bar
    ? `${bar.ratio.toFixed(3)}x the ${bar.against}, against a bar of ${bar.needed.toFixed(3)}x (moat and ${(bar.noise * 100).toFixed(1)}% measured noise)`
    : "";
  let answer: string;
  let nextStep: string;
  switch (verdict) {
    case "leader":
      answer = `Yes: it would take the lead, ${barText}, once a second pod with another seed reproduces it.`;
      nextStep =
        "Commit it with `cacheon-miner commit --image REF@DIGEST`; run evaluate again with another --seed to see it hold.";
      break;
    case "runner-up":
      answer = `It would be paid as runner-up: faster than the baseline but not than the leader by the bar (${barText}).`;
      nextStep = `Make it faster by more than ${bar ? pct(bar.needed) : "the bar"} over the leader to take the lead, or commit it for the runner-up's share.`;
      break;
    case "below-bar":
      answer = `No: it is correct but not faster than ${bar?.against ?? "the seat"} by the bar (${barText}).`;
      nextStep =
        "Make the server faster or steadier (the bar grows with measured noise), then evaluate again.";
      break;
    case "failed":
      answer = `No: it fails the gate: ${reading?.reason || evaluation.score.reason || arm?.reason || "not measured"}.`;
      nextStep =
        arm?.outcome === ArmOutcome.MEASURED
          ? "Fix what the correctness reasons and findings below name; every timed output is checked against the baseline's."
          : "Make the image start and serve on this machine (its log excerpt is in the result --json prints), then evaluate again.";
      break;
    default:
      answer = `No decision: ${evaluation.score.reason || "the job did not measure both baselines"}.`;
      nextStep =
        "The baseline could not be measured here: check the baseline image, the model directory and the GPUs, then run again.";
  }
  return {
    verdict,
    answer,
    nextStep,
    speed: reading?.speed ?? 0,
    bar,
    prompts: promptLines(evaluation, arm?.correctness?.promptsEvidence ?? []),
    correctness: arm?.correctness?.reasons ?? [],
    findings: arm?.summary?.findings ?? [],
  };
}

/** Per prompt: median TTFT and end-to-end time of its timed requests, and its correctness. */
function promptLines(
  evaluation: Evaluation,
  evidence: readonly PromptEvidence[],
): EvaluationAnswer["prompts"] {
  const byPrompt = new Map<string, { kind: string; ttft: number[]; e2e: number[]; fails: string[] }>();
  const entry = (promptId: string, kind: string) => {
    const e = byPrompt.get(promptId) ?? { kind, ttft: [], e2e: [], fails: [] };
    byPrompt.set(promptId, e);
    return e;
  };
  const armId = evaluation.job.arms.find((a) => a.submissionId === evaluatedId)?.armId;
  for (const r of evaluation.requests) {
    if (!r.ok || r.armId !== armId) continue;
    const e = entry(r.promptId, r.promptKind);
    e.ttft.push(r.ttftMs);
    e.e2e.push(r.e2eMs);
  }
  for (const p of evidence) {
    const e = entry(p.promptId, p.kind);
    if (p.verdict !== PromptVerdict.PASS)
      e.fails.push(...(p.reasonCodes.length > 0 ? p.reasonCodes : [p.reason || "failed"]));
  }
  return [...byPrompt].map(([promptId, e]) => ({
    promptId,
    kind: e.kind,
    ttftMs: median(e.ttft),
    e2eMs: median(e.e2e),
    verdict: e.fails.length > 0 ? "fail" : evidence.length > 0 ? "pass" : "not judged",
    reasons: [...new Set(e.fails)],
  }));
}
