import type { SubmissionRow } from "../store/submission-table.ts";
import type { SubmissionContent } from "./detect-copy.ts";

/** What copy detection needs of a stored submission with a digest. */
export function submissionContent(s: SubmissionRow): SubmissionContent {
  return {
    submissionId: s.id,
    hotkey: s.hotkey,
    priorityBlock: s.priorityBlock,
    priorityIndex: s.priorityIndex,
    sequence: s.sequence,
    copyOf: s.state === "copy" ? s.copyOf : null,
    image: {
      digest: s.digest as string,
      configDigest: s.configDigest ?? undefined,
      layers: s.layers ?? undefined,
      sizeBytes: s.sizeBytes ?? undefined,
    },
  };
}
