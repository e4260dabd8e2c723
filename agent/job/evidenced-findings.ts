import { create } from "@bufbuild/protobuf";
import { findingsAgainstServer } from "../../shared/findings/findings-against-server.ts";
import { type ArmResult, GpuActivitySchema } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { gpuProofFindings } from "./gpu-proof.ts";

/** An arm's findings from before judging, rebuilt from its evidence, and how the record differs. */
export interface EvidencedFindings {
  /**
   * The findings to judge from: the recorded client-bound ones (the referee's own limitation; they
   * fail nothing), then what the arm's GPU figures give, in the order the agent writes them.
   */
  findings: string[];
  /** Recorded findings against the server that the evidence does not give. */
  unexplained: string[];
  /** Findings the GPU figures give that the record lacks. */
  missing: string[];
}

/**
 * Rebuilds the findings an arm carried into judging from what its bundle holds, instead of taking
 * the recorded list on trust: a validator (or a broken agent) that wrote a finding against a server
 * the evidence does not support, to fail a miner, or left out one it does, to pass one, is named.
 * The GPU findings are recomputed from the recorded GPU figures with the agent's thresholds; the
 * client-bound findings are kept as recorded (the measuring client's own load, not evidence about
 * the server, and never a failure). No other finding is written before judging on a pod job (the
 * usage disagreements are request failures there), so any other is unexplained. A measured arm
 * (one with a summary) whose GPU figures are missing where GPUs were expected is judged as the
 * agent judges a sampler that saw nothing: its GPU use is not proven. Pure.
 */
export function evidencedFindings(judgedFrom: ArmResult, expectedGpus: number): EvidencedFindings {
  const recorded = judgedFrom.summary?.findings ?? [];
  const figures =
    judgedFrom.gpuActivity ??
    (judgedFrom.summary && expectedGpus > 0 ? create(GpuActivitySchema, {}) : undefined);
  const fromFigures = figures ? gpuProofFindings(figures, { expectedGpus }) : [];
  const against = findingsAgainstServer(recorded);
  const clientBound = recorded.filter((f) => !against.includes(f));
  const left = [...fromFigures];
  const unexplained: string[] = [];
  for (const finding of against) {
    const i = left.indexOf(finding);
    if (i >= 0) left.splice(i, 1);
    else unexplained.push(finding);
  }
  return { findings: [...clientBound, ...fromFigures], unexplained, missing: left };
}
