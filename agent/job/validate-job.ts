import type { ImageReference } from "../../shared/gen/cacheon/v1/image_pb.ts";
import type { Arm, EvaluationJob } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { ArmRole } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { type PinnedImage, tryParseImageReference } from "../../shared/image/image-reference.ts";

/**
 * Every problem that stops a job from running, as lines saying what to fix; empty when the job
 * can run. Pure. A job must name arms with unique ids, a role each, images pinned by digest, an
 * opening baseline first (correctness is judged against it), a closing baseline after any interim
 * one, and a workload. The same image may run in several arms (an interleaved job).
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
    for (const problem of launchProblems(arm)) problems.push(`${where}: ${problem}`);
  }
  if (job.arms.length > 0 && job.arms[0]?.role !== ArmRole.OPENING_BASELINE) {
    problems.push("the first arm must be the opening baseline (correctness is judged against it)");
  }
  // An interim baseline closes one block and opens the next: a closing baseline must follow it.
  const lastInterim = job.arms.findLastIndex((a) => a.role === ArmRole.INTERIM_BASELINE);
  if (lastInterim >= 0 && job.arms.findLastIndex((a) => a.role === ArmRole.CLOSING_BASELINE) < lastInterim) {
    problems.push("an interim baseline must be followed by a closing baseline (it opens the block after it)");
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
  return (
    role === ArmRole.OPENING_BASELINE ||
    role === ArmRole.CLOSING_BASELINE ||
    role === ArmRole.INTERIM_BASELINE
  );
}

/** Bounds of an arm's launch spec: generous for any real server, small enough to refuse abuse. */
export const launchLimits = {
  /** Bytes of cmd, args and env together. */
  maxSpecBytes: 64 * 1024,
  /** Writable directories besides /tmp. */
  maxWritableDirs: 16,
  minDirBytes: 1024 * 1024,
  maxDirBytes: 64 * 1024 ** 3,
} as const;

/** Paths no writable directory may be at or under: the agent's own mounts and the kernel's. */
const reservedPaths = ["/model", "/tmp", "/dev", "/proc", "/sys"];

/**
 * What is wrong with an arm's launch spec (cmd, args, env, writable dirs), as lines saying what to
 * fix; empty when it can run. Pure. PORT is the agent's to set; writable directories must be
 * absolute, normalised paths outside the agent's mounts, each of a bounded size.
 */
export function launchProblems(arm: Arm): string[] {
  const problems: string[] = [];
  const strings = [...arm.cmd, ...arm.args, ...Object.entries(arm.env).flat()];
  if (strings.some((s) => s.includes("\0")))
    problems.push("cmd, args and env may not contain NUL characters");
  const bytes = strings.reduce((n, s) => n + Buffer.byteLength(s) + 1, 0);
  if (bytes > launchLimits.maxSpecBytes) {
    problems.push(`cmd, args and env take ${bytes} bytes; at most ${launchLimits.maxSpecBytes} are accepted`);
  }
  for (const name of Object.keys(arm.env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      problems.push(`env name ${JSON.stringify(name)} is not valid`);
    else if (name === "PORT") problems.push("env may not set PORT: the agent sets it to the port it probes");
  }
  if (arm.writableDirs.length > launchLimits.maxWritableDirs) {
    problems.push(`${arm.writableDirs.length} writable dirs; at most ${launchLimits.maxWritableDirs}`);
  }
  const seen = new Set<string>();
  for (const dir of arm.writableDirs) {
    const name = JSON.stringify(dir.path);
    if (
      !/^(\/[A-Za-z0-9._-]+)+$/.test(dir.path) ||
      dir.path.split("/").some((p) => p === "." || p === "..")
    ) {
      problems.push(
        `writable dir ${name} must be an absolute, normalised path of letters, digits, ".", "_" and "-"`,
      );
    } else if (reservedPaths.some((r) => dir.path === r || dir.path.startsWith(`${r}/`))) {
      problems.push(`writable dir ${name} is at or under one of ${reservedPaths.join(", ")}`);
    } else if (seen.has(dir.path)) {
      problems.push(`writable dir ${name} is given twice`);
    }
    seen.add(dir.path);
    const size = Number(dir.sizeBytes);
    if (!(size >= launchLimits.minDirBytes && size <= launchLimits.maxDirBytes)) {
      problems.push(
        `writable dir ${name} has size ${size} bytes; give ${launchLimits.minDirBytes} to ${launchLimits.maxDirBytes}`,
      );
    }
  }
  return problems;
}
