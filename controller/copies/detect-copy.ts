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
  /** Block its content became public: a plain commit's block, a timelocked commit's reveal. */
  priorityBlock: number;
  /**
   * Index of its commitment (or reveal) event within that block, ordering commits of one block;
   * null when the chain could not tell (that block's events are no longer readable).
   */
  priorityIndex: number | null;
  /** Order of arrival within the store; only names a group, never decides who owns. */
  sequence: number;
  /** The submission it was judged a copy of; null when it is none. */
  copyOf: string | null;
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
  /** The submission that owns the content (for contested content: the first other claimant). */
  originalId: string;
  originalHotkey: string;
  /** Two hotkeys committed it in one block whose order is unknown: nobody owns it. */
  contested: boolean;
  /** A sentence for the miner's report. */
  reason: string;
}

/** Options of {@link detectCopy}. */
export interface DetectCopyOptions {
  candidate: SubmissionContent;
  /** Every other submission ever stored, whatever its state (any order). */
  others: readonly SubmissionContent[];
  /** The current leader's submission id, for the "leader plus small layers" rule. */
  leaderId?: string | undefined;
  policy?: CopyPolicy;
}

/**
 * Whether `candidate` copies content another hotkey owns. Content (the same manifest digest, the
 * same image config, or the same layer set) is owned by its earliest commit across all history
 * that is not itself a copy: ordered by the block it became public, then by its event's index in
 * that block. A hotkey's own earlier commits count for it, so re-committing its work is never a
 * copy, and a thief's copy (already judged one) never owns anything, however often it is
 * re-committed. Commits of one block whose order is unknown contest the content: each of them is
 * a copy and nobody owns it (a coin flip by hotkey name would hand it to a thief half the time);
 * they still hold it against anyone later. The leader's layers with a few small layers on top are
 * a copy of the leader. Pure.
 */
export function detectCopy(options: DetectCopyOptions): CopyFinding | undefined {
  const { candidate } = options;
  const policy = options.policy ?? defaultCopyPolicy;
  const others = options.others.filter((o) => o.submissionId !== candidate.submissionId);
  const byId = new Map([...others, candidate].map((s) => [s.submissionId, s]));
  // A copy holds nothing, unless it is one only because its block's order is unknown.
  const holders = others.filter((o) => {
    if (o.copyOf === null) return true;
    const of = byId.get(o.copyOf);
    return of !== undefined && order(of, o) === "unknown";
  });
  const c = candidate.image;
  const rules: { kind: CopyFinding["kind"]; what: string; same: (o: SubmissionContent) => boolean }[] = [
    {
      kind: "same-digest",
      what: `the same image digest ${short(c.digest)}`,
      same: (o) => o.image.digest === c.digest,
    },
    {
      kind: "same-config",
      what: `the same image configuration ${short(c.configDigest ?? "")} (a re-tagged or re-pushed copy)`,
      same: (o) =>
        c.configDigest !== undefined && c.configDigest !== "" && o.image.configDigest === c.configDigest,
    },
    {
      kind: "same-layers",
      what: `the same ${c.layers?.length ?? 0} file-system layers`,
      same: (o) => sameLayers(o.image.layers, c.layers),
    },
  ];
  for (const rule of rules) {
    const finding = judge(rule.kind, rule.what, candidate, holders.filter(rule.same));
    if (finding) return finding;
  }
  return leaderPlusLayers(candidate, holders, options.leaderId, policy);
}

type Order = "before" | "after" | "unknown";

/** Whether `a` became public before `b`; "unknown" within one block when an index is missing. */
function order(a: SubmissionContent, b: SubmissionContent): Order {
  if (a.priorityBlock !== b.priorityBlock) return a.priorityBlock < b.priorityBlock ? "before" : "after";
  if (a.priorityIndex !== null && b.priorityIndex !== null && a.priorityIndex !== b.priorityIndex)
    return a.priorityIndex < b.priorityIndex ? "before" : "after";
  return "unknown";
}

/** Who owns content the candidate and `holders` share, and what that makes the candidate. */
function judge(
  kind: CopyFinding["kind"],
  what: string,
  candidate: SubmissionContent,
  holders: readonly SubmissionContent[],
): CopyFinding | undefined {
  const all = [...holders, candidate];
  // The earliest: those nothing else precedes (several when their order is unknown).
  const first = all.filter((a) => !all.some((b) => b !== a && order(b, a) === "before"));
  const claimants = new Set(first.map((s) => s.hotkey));
  const named = [...first].sort((a, b) => a.sequence - b.sequence);
  if (claimants.size === 1) {
    const owner = named[0] as SubmissionContent;
    if (owner.hotkey === candidate.hotkey) return undefined;
    return {
      kind,
      originalId: owner.submissionId,
      originalHotkey: owner.hotkey,
      contested: false,
      reason: `${what} as submission ${owner.submissionId} of ${owner.hotkey}, committed earlier (block ${owner.priorityBlock}); the earliest commit owns the content. Submit an image you built yourself.`,
    };
  }
  const rival = named.find((s) => s.hotkey !== candidate.hotkey) as SubmissionContent;
  const inBlock = first.includes(candidate);
  return {
    kind,
    originalId: rival.submissionId,
    originalHotkey: rival.hotkey,
    contested: true,
    reason: inBlock
      ? `${what} as submission ${rival.submissionId} of ${rival.hotkey}, committed in the same block ${rival.priorityBlock}; the order inside that block cannot be read from the chain any more, so neither commit owns the content. Submit an image you built yourself (a timelocked commitment hides it until it is revealed).`
      : `${what} as submission ${rival.submissionId} of ${rival.hotkey} and others, committed earlier (block ${rival.priorityBlock}); the earliest commit owns the content. Submit an image you built yourself.`,
  };
}

function leaderPlusLayers(
  candidate: SubmissionContent,
  holders: readonly SubmissionContent[],
  leaderId: string | undefined,
  policy: CopyPolicy,
): CopyFinding | undefined {
  const c = candidate.image;
  const leader = holders.find((o) => o.submissionId === leaderId);
  const base = leader?.image.layers;
  if (!leader || leader.hotkey === candidate.hotkey || order(leader, candidate) === "after") return undefined;
  if (!base || base.length === 0 || !c.layers || c.layers.length <= base.length) return undefined;
  const extra = c.layers.length - base.length;
  const prefix = base.every((layer, i) => c.layers?.[i] === layer);
  const extraBytes =
    c.sizeBytes !== undefined && leader.image.sizeBytes !== undefined
      ? c.sizeBytes - leader.image.sizeBytes
      : 0;
  if (!prefix || extra > policy.maxExtraLayers || extraBytes > policy.maxExtraBytes) return undefined;
  return {
    kind: "leader-plus-layers",
    originalId: leader.submissionId,
    originalHotkey: leader.hotkey,
    contested: false,
    reason: `the leader's image plus ${extra} small layer${extra > 1 ? "s" : ""} (${formatBytes(Math.max(extraBytes, 0))}; limit ${policy.maxExtraLayers} layers, ${formatBytes(policy.maxExtraBytes)}) as submission ${leader.submissionId} of ${leader.hotkey}, committed earlier (block ${leader.priorityBlock}); the earliest commit owns the content. Submit an image you built yourself.`,
  };
}

function sameLayers(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (!a || !b || a.length === 0 || b.length === 0) return false;
  return [...a].sort().join(",") === [...b].sort().join(",");
}

function short(digest: string): string {
  return digest.length > 19 ? `${digest.slice(0, 19)}…` : digest;
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}
