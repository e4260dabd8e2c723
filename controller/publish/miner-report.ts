/** One measurement behind a verdict, as the miner sees it. */
export interface ReportMeasurement {
  jobId: string;
  phase: "evaluate" | "reproduce";
  podId: string;
  gate: "pass" | "fail";
  /** Speed against the baseline on that pod. */
  speed: number;
  /** Ratio against the seat it challenged (leader, runner-up or baseline) and the bar it had to clear. */
  against?: { seat: string; ratio: number; bar: number; noise: number } | undefined;
  reason: string;
}

/** What a miner is told about one submission after one round. */
export interface MinerReport {
  hotkey: string;
  submissionId: string;
  image: string | null;
  roundId: string;
  verdict: string;
  /** 1 = leader, 2 = runner-up, then by settled speed; undefined when not ranked. */
  rank?: number | undefined;
  speed: number;
  settledSpeed: number;
  /** Why, in one sentence. */
  reason: string;
  /** What to do next. */
  nextSteps: string[];
  measurements: ReportMeasurement[];
}

/** Input of {@link buildMinerReport}: the report without its advice, plus the policy's margin. */
export type MinerReportInput = Omit<MinerReport, "nextSteps"> & {
  /** The margin a challenger needed at least, for advice. */
  minMargin: number;
};

/** Builds a miner's report: the verdict, why, and what to do next. Pure. */
export function buildMinerReport(input: MinerReportInput): MinerReport {
  return {
    hotkey: input.hotkey,
    submissionId: input.submissionId,
    image: input.image,
    roundId: input.roundId,
    verdict: input.verdict,
    rank: input.rank,
    speed: input.speed,
    settledSpeed: input.settledSpeed,
    reason: input.reason,
    nextSteps: nextSteps(input),
    measurements: input.measurements,
  };
}

/**
 * What to do next about a verdict or a submission state (the leaderboard shows this for
 * submissions no round has reported on yet: sealed, waiting, unpaid, malformed). Pure.
 */
export function nextSteps(input: {
  verdict: string;
  reason: string;
  minMargin: number;
  /** The round the verdict is from, to name its published evidence. */
  roundId?: string | null;
}): string[] {
  const r = input.reason;
  const round = input.roundId ? `rounds/${input.roundId}` : "rounds/<round>";
  // Commands named here must exist: miner-report.test.ts checks each against the programs.
  const regrade = `Judge the verdict again yourself from the round's published evidence (your outputs, the baselines', the reference's scores): \`cacheon-agent regrade --summary ${round}/summary.json ${round}/evidence/\`.`;
  switch (input.verdict) {
    case "leader":
    case "runner-up":
      return [
        "Nothing to do: you are paid while you hold the seat. Keep the image pullable by digest from its registry.",
        "A challenger takes the seat only by beating you on the same pod by more than the bar, twice on two pods.",
      ];
    case "failed":
      if (/correctness/.test(r)) {
        return [
          "Your outputs differ from the baseline beyond tolerance on the timed requests themselves (there is no separate audit pass).",
          "Run the validator's job on your machine with `cacheon-miner evaluate --image REF@DIGEST` (the pinned baseline as the bookends, the controller's settings and scoring) and read each prompt's verdict and reasons; greedy outputs must stay within the baseline's top-k at the first divergence.",
          regrade,
          "Fix it and commit a new digest.",
        ];
      }
      if (/never-ready/.test(r))
        return [
          "The server must answer /health within the start-up timeout (750 s by default); load the model from /model, read-only.",
          "Commit a new digest once it starts in time locally.",
        ];
      if (/pull-failed/.test(r))
        return [
          "The image could not be pulled by digest: make the repository public and the digest exist; images over the size limit are refused.",
          "Commit a new digest.",
        ];
      if (/crashed|oom/i.test(r))
        return [
          `The container exited while measured. Read its log in the arm's evidence bundle of the round (${round}/evidence/); mind the memory, pids and shm limits.`,
          "Commit a new digest.",
        ];
      return [
        `Read the reason and the evidence of your job (${round}/evidence/), fix the server and commit a new digest.`,
        regrade,
      ];
    case "copy":
      return [
        "Copies of another miner's image (same digest, configuration, layers, or the leader plus small layers) are disqualified; the earliest commit owns the content.",
        "Build and submit your own image.",
      ];
    case "malformed":
      return [
        "Commit an image reference pinned by digest: registry/repository[:tag]@sha256:<64 hex digits>.",
      ];
    case "unpaid":
      return [
        "Every commitment must pay the submission fee: a transfer to the fee account with a remark naming your hotkey and the image digest, in the commitment's extrinsic or just before it. An unpaid commitment is never evaluated.",
        "Commit again with `cacheon-miner commit --fee` (it pays and names the digest in one extrinsic); one payment pays for one commitment.",
      ];
    case "below-bar":
      return [
        `You are correct but not faster than the seat holder by more than the bar (at least ${(input.minMargin * 100).toFixed(1)}%, more on noisy pods).`,
        "Make the server faster, or steadier (the bar grows with measured noise); `cacheon-miner evaluate --image REF@DIGEST --leader REF@DIGEST` says whether it clears the bar beside the leader before you commit a new digest.",
      ];
    case "not-reproduced":
      return [
        "Your win on the first pod did not hold on a second pod with another seed. Reduce run-to-run variance (warm-up, CUDA graphs, fixed batch shapes) and commit again.",
      ];
    case "sealed":
      return [
        "Nothing to do: your commitment is drand-timelocked and nobody can read it yet. The chain reveals it at its drand round; it is evaluated in the first round after.",
      ];
    case "pending":
      return ["Nothing to do: your submission is measured in the next round."];
    case "awaiting-reproduction":
    case "no-result":
      return ["Nothing to do: the submission will be measured again in the next round."];
    case "withdrawn":
      return [
        "The submission was replaced or its hotkey left the subnet during the round; the latest commitment is evaluated.",
      ];
    default:
      return [];
  }
}
