import type { ArmRole } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { isBaseline } from "./validate-job.ts";

/** The baseline arms an arm's times to token k are taken against, by index in the job. */
export interface Bracket {
  /** The baseline just before the arm (its block's opening one). */
  opening: number;
  /** The baseline just after it (its block's closing one); for a baseline arm, the arm itself. */
  closing: number;
}

/**
 * For every arm of a job in order, the baselines it is timed against: the nearest baseline before
 * it and the nearest after it (the bookends of a one-block job; in an interleaved job the
 * baselines around its block). A baseline after the first closes the block before it, so it is
 * timed against the baseline before it and itself. Undefined for the opening baseline and for an
 * arm without a baseline on both sides. Pure.
 */
export function bracketingBaselines(roles: readonly ArmRole[]): (Bracket | undefined)[] {
  const baselines = roles.flatMap((role, i) => (isBaseline(role) ? [i] : []));
  return roles.map((role, i) => {
    const opening = baselines.filter((b) => b < i).at(-1);
    const closing = isBaseline(role) ? i : baselines.find((b) => b > i);
    return opening === undefined || closing === undefined ? undefined : { opening, closing };
  });
}
