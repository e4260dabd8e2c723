import { type CopyPolicy, detectCopy } from "../copies/detect-copy.ts";
import { submissionContent } from "../copies/submission-content.ts";
import type { Standing } from "../scoring/settle-standing.ts";
import type { ControllerStore } from "../store/controller-store.ts";
import type { RoundRow } from "../store/round-table.ts";

/** Options of {@link detectRoundCopies}. */
export interface DetectRoundCopiesOptions {
  store: ControllerStore;
  round: RoundRow;
  policy: CopyPolicy;
}

/**
 * Marks the round's pending challengers that copy another submission as copies, now that pulls
 * told the image configs and layers (intake already caught equal digests). Call inside the
 * transaction that records those facts.
 */
export function detectRoundCopies(options: DetectRoundCopiesOptions): void {
  const { store, round } = options;
  const standing = round.standingBefore as Standing;
  // An unpaid submission owns no content: a free commitment must not make a paid one a copy.
  const content = store.submissions
    .list()
    .filter((s) => s.digest !== null && s.state !== "unpaid")
    .map(submissionContent);
  for (const id of round.challengers) {
    const sub = store.submissions.get(id);
    if (sub?.state !== "pending") continue;
    const copy = detectCopy({
      candidate: submissionContent(sub),
      others: content,
      leaderId: standing.leader?.submissionId,
      policy: options.policy,
    });
    if (copy) store.submissions.setState(sub.id, "copy", copy.reason, copy.originalId);
  }
}
