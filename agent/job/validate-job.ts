import type { ImageReference } from "../../shared/gen/cacheon/v1/image_pb.ts";
import type { EvaluationJob } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { ArmRole } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { type PinnedImage, tryParseImageReference } from "../../shared/image/image-reference.ts";

/**
 * Every problem that stops a job from running, as lines saying what to fix; empty when the job
 * can run. Pure. A job must name arms with unique ids, a role each, images pinned by digest, an
 * opening baseline first (correctness is judged against it) and a workload.
 */
export function validateJob(job: EvaluationJob): string[] {
  const problems: string[] = [];
  if (!job.jobId) problems.push("job_id is empty");
  if (!job.workload) problems.push("workload is missing");
  else if (job.workload.requests < 1) problems.push("workload.requests must be at least 1");
  if (!/^(0x)?[0-9a-fA-F]*$/.test(job.roundSeed) || job.roundSeed.replace(/^0x/, "") === "") {
    problems.push("round_seed must be non-empty hex");
  }
  if (job.arms.length === 0) problems.push("the job has no arms");
  const ids = new Set<string>();
  for (const [i, arm] of job.arms.entries()) {
    const where = `arm ${i} (${arm.armId || "no id"})`;
    if (!arm.armId) problems.push(`${where}: arm_id is empty`);
    else if (ids.has(arm.armId)) problems.push(`${where}: arm_id "${arm.armId}" is used twice`);
    ids.add(arm.armId);
    if (arm.role === ArmRole.UNSPECIFIED) problems.push(`${where}: role is not set`);
    const parsed = pinnedImageOf(arm.image);
    if (!parsed.ok) problems.push(`${where}: ${parsed.error}`);
  }
  if (job.arms.length > 0 && job.arms[0]?.role !== ArmRole.OPENING_BASELINE) {
    problems.push("the first arm must be the opening baseline (correctness is judged against it)");
  }
  return problems;
}

/** The image of an arm as a validated PinnedImage (the proto fields re-parsed, so nothing unchecked is pulled). */
export function pinnedImageOf(
  image: ImageReference | undefined,
): { ok: true; image: PinnedImage } | { ok: false; error: string } {
  if (!image) return { ok: false, error: "image is missing" };
  const tag = image.tag ? `:${image.tag}` : "";
  const text = `${image.registry ? `${image.registry}/` : ""}${image.repository}${tag}@${image.digest}`;
  return tryParseImageReference(text);
}

/** Whether an arm is the pinned baseline (opening or closing). */
export function isBaseline(role: ArmRole): boolean {
  return role === ArmRole.OPENING_BASELINE || role === ArmRole.CLOSING_BASELINE;
}
