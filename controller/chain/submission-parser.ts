import {
  formatImageReference,
  type PinnedImage,
  tryParseImageReference,
} from "../../shared/image/image-reference.ts";

/** One field of a commitment as stored on chain (pallet_commitments `Data`). */
export interface CommitmentField {
  /** The `Data` variant, e.g. "Raw76", "BigRaw", "Sha256", "TimelockEncrypted", "None". */
  variant: string;
  /** The payload of a Raw or BigRaw field; empty for the other variants. */
  bytes: Uint8Array;
}

/** A parsed submission, or why it was refused. Never throws. */
export type ParsedSubmission =
  | {
      ok: true;
      image: PinnedImage /** canonical `registry/repo[:tag]@sha256:...` */;
      reference: string;
      form: "json" | "compact";
    }
  | { ok: false; reason: string };

/** Largest payload read: BigRaw's limit on chain. */
export const maxSubmissionBytes = 512;
const jsonKeys = new Set(["image", "digest", "hotkey"]);

/** Options of {@link parseSubmission}. */
export interface ParseSubmissionOptions {
  /** The hotkey the commitment is (or was revealed) under; a JSON "hotkey" naming another is refused. */
  committer?: string;
}

/**
 * Parses a miner's commitment: exactly one Raw/BigRaw field holding either JSON
 * `{"image": "repo[:tag]", "digest": "sha256:<64 hex>"}` or the compact `repo[:tag]@sha256:<64 hex>`.
 * Hostile input (oversized, not UTF-8, bad JSON, unknown fields, several fields, a tag without a
 * digest, a malformed digest) is refused with a reason a miner can act on.
 */
export function parseSubmission(
  fields: readonly CommitmentField[],
  options: ParseSubmissionOptions = {},
): ParsedSubmission {
  const fail = (reason: string): ParsedSubmission => ({ ok: false, reason });
  if (fields.length === 0)
    return fail("the commitment has no fields; commit one Raw field with the image reference");
  const filled = fields.filter((f) => f.variant !== "None");
  if (filled.length !== 1 || fields.length !== 1)
    return fail(
      `the commitment has ${fields.length} fields; a submission is exactly one Raw/BigRaw field (\`cacheon-miner commit\` writes it)`,
    );
  const field = filled[0] as CommitmentField;
  if (!/^(Raw\d+|BigRaw)$/.test(field.variant))
    return fail(
      `the commitment field is ${field.variant}; a submission must be a Raw or BigRaw field holding text`,
    );
  if (field.bytes.length > maxSubmissionBytes)
    return fail(`the commitment is ${field.bytes.length} bytes; at most ${maxSubmissionBytes} are read`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(field.bytes);
  } catch {
    return fail("the commitment is not UTF-8 text");
  }
  const trimmed = text.trim();
  if (trimmed.startsWith("{")) return parseJsonForm(trimmed, options.committer);
  const result = tryParseImageReference(trimmed);
  if (!result.ok) return fail(result.error);
  return { ok: true, image: result.image, reference: formatImageReference(result.image), form: "compact" };
}

function parseJsonForm(text: string, committer: string | undefined): ParsedSubmission {
  const fail = (reason: string): ParsedSubmission => ({ ok: false, reason });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return fail(`the commitment is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return fail('the JSON commitment must be an object {"image": ..., "digest": ...}');
  const record = value as Record<string, unknown>;
  const unknown = Object.keys(record).filter((k) => !jsonKeys.has(k));
  if (unknown.length > 0)
    return fail(
      `the JSON commitment has unknown fields (${unknown.join(", ")}); only "image", "digest" and "hotkey" are allowed`,
    );
  // A sealed commitment's ciphertext can be replayed by another hotkey before anyone can read it;
  // naming the hotkey inside the sealed text makes a replay worthless.
  if (
    record.hotkey !== undefined &&
    (typeof record.hotkey !== "string" || (committer !== undefined && record.hotkey !== committer))
  )
    return fail(
      `the commitment names hotkey ${JSON.stringify(record.hotkey)} but was committed by ${committer}: a replayed commitment is not evaluated`,
    );
  if (typeof record.image !== "string" || record.image.length === 0)
    return fail('the JSON commitment needs "image" as a non-empty string');
  if (typeof record.digest !== "string")
    return fail('the JSON commitment needs "digest" as "sha256:<64 hex>"');
  if (record.image.includes("@"))
    return fail('"image" must not contain a digest; put it in "digest" only, so there is one to trust');
  const result = tryParseImageReference(`${record.image}@${record.digest}`);
  if (!result.ok) return fail(result.error);
  return { ok: true, image: result.image, reference: formatImageReference(result.image), form: "json" };
}
