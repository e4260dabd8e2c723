/** What the registry and the engine told us about a submission's image. */
export interface ImageFacts {
  /** Manifest digest, "sha256:...". */
  digest: string;
  /** Digest of the image configuration blob; unknown until the image was pulled. */
  configDigest?: string | undefined;
  /** Uncompressed layer digests, bottom first; unknown until pulled. */
  layers?: readonly string[] | undefined;
  /** Unpacked size in bytes; unknown until pulled. */
  sizeBytes?: number | undefined;
}

/** A submission as copy detection sees it. */
export interface SubmissionContent {
  submissionId: string;
  hotkey: string;
  /** Block of the commitment; the earliest commit owns the content. */
  commitBlock: number;
  /** Order of arrival within the store, breaking ties between commitments of one block. */
  sequence: number;
  image: ImageFacts;
}

/** Thresholds of copy detection. */
export interface CopyPolicy {
  /**
   * An image made of the leader's layers plus at most this many layers on top is a copy of
   * the leader (a tuned launcher flag in a new layer does not make new work). @default 2
   */
  maxExtraLayers: number;
  /** ...and only when those layers add at most this many bytes (when sizes are known). @default 104857600 (100 MiB) */
  maxExtraBytes: number;
}

/** Default thresholds. */
export const defaultCopyPolicy: Readonly<CopyPolicy> = Object.freeze({
  maxExtraLayers: 2,
  maxExtraBytes: 100 * 1024 * 1024,
});

/** Why a submission is a copy, and of what. */
export interface CopyFinding {
  kind: "same-digest" | "same-config" | "same-layers" | "leader-plus-layers";
  /** The submission that owns the content. */
  originalId: string;
  originalHotkey: string;
  /** A sentence for the miner's report. */
  reason: string;
}

/** Options of {@link detectCopy}. */
export interface DetectCopyOptions {
  candidate: SubmissionContent;
  /** Every other submission known (any order; later ones are ignored). */
  others: readonly SubmissionContent[];
  /** The current leader's submission id, for the "leader plus small layers" rule. */
  leaderId?: string | undefined;
  policy?: CopyPolicy;
}

/**
 * Whether `candidate` copies a submission committed before it by another hotkey: the same
 * manifest digest, the same image config, the same layer set, or the leader's layers with a
 * few small layers on top. A hotkey may resubmit its own work. Pure.
 */
export function detectCopy(options: DetectCopyOptions): CopyFinding | undefined {
  const { candidate } = options;
  const policy = options.policy ?? defaultCopyPolicy;
  const earlier = options.others
    .filter((o) => o.submissionId !== candidate.submissionId && o.hotkey !== candidate.hotkey)
    .filter((o) => isEarlier(o, candidate))
    .sort((a, b) => (isEarlier(a, b) ? -1 : 1));
  const c = candidate.image;
  const finding = (kind: CopyFinding["kind"], original: SubmissionContent, what: string): CopyFinding => ({
    kind,
    originalId: original.submissionId,
    originalHotkey: original.hotkey,
    reason: `${what} as submission ${original.submissionId} of ${original.hotkey}, committed earlier (block ${original.commitBlock}); the earliest commit owns the content. Submit an image you built yourself.`,
  });
  for (const o of earlier) {
    if (o.image.digest === c.digest)
      return finding("same-digest", o, `the same image digest ${short(c.digest)}`);
  }
  for (const o of earlier) {
    if (c.configDigest && o.image.configDigest === c.configDigest) {
      return finding(
        "same-config",
        o,
        `the same image configuration ${short(c.configDigest)} (a re-tagged or re-pushed copy)`,
      );
    }
  }
  if (c.layers && c.layers.length > 0) {
    const mine = [...c.layers].sort().join(",");
    for (const o of earlier) {
      if (o.image.layers && o.image.layers.length > 0 && [...o.image.layers].sort().join(",") === mine) {
        return finding("same-layers", o, `the same ${c.layers.length} file-system layers`);
      }
    }
    const leader = earlier.find((o) => o.submissionId === options.leaderId);
    const base = leader?.image.layers;
    if (leader && base && base.length > 0 && c.layers.length > base.length) {
      const extra = c.layers.length - base.length;
      const prefix = base.every((layer, i) => c.layers?.[i] === layer);
      const extraBytes =
        c.sizeBytes !== undefined && leader.image.sizeBytes !== undefined
          ? c.sizeBytes - leader.image.sizeBytes
          : 0;
      if (prefix && extra <= policy.maxExtraLayers && extraBytes <= policy.maxExtraBytes) {
        return finding(
          "leader-plus-layers",
          leader,
          `the leader's image plus ${extra} small layer${extra > 1 ? "s" : ""} (${formatBytes(Math.max(extraBytes, 0))}; limit ${policy.maxExtraLayers} layers, ${formatBytes(policy.maxExtraBytes)})`,
        );
      }
    }
  }
  return undefined;
}

function isEarlier(a: SubmissionContent, b: SubmissionContent): boolean {
  return a.commitBlock !== b.commitBlock ? a.commitBlock < b.commitBlock : a.sequence < b.sequence;
}

function short(digest: string): string {
  return digest.length > 19 ? `${digest.slice(0, 19)}…` : digest;
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}
