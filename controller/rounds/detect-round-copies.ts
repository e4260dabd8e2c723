import { type CopyPolicy, detectCopy, type SubmissionContent } from "../copies/detect-copy.ts";
import type { Standing } from "../scoring/settle-standing.ts";
import type { ControllerStore } from "../store/controller-store.ts";
import type { RoundRow } from "../store/round-table.ts";
import type { SubmissionRow } from "../store/submission-table.ts";

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
  const content = store.submissions
    .list()
    .filter((s) => s.digest !== null)
    .map(contentOf);
  for (const id of round.challengers) {
    const sub = store.submissions.get(id);
    if (sub?.state !== "pending") continue;
    const copy = detectCopy({
      candidate: contentOf(sub),
      others: content,
      leaderId: standing.leader?.submissionId,
      policy: options.policy,
    });
    if (copy) store.submissions.setState(sub.id, "copy", copy.reason, copy.originalId);
  }
}

function contentOf(s: SubmissionRow): SubmissionContent {
  return {
    submissionId: s.id,
    hotkey: s.hotkey,
    commitBlock: s.commitBlock,
    sequence: s.sequence,
    image: {
      digest: s.digest as string,
      configDigest: s.configDigest ?? undefined,
      layers: s.layers ?? undefined,
      sizeBytes: s.sizeBytes ?? undefined,
    },
  };
}
