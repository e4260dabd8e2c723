import {
  formatImageReference,
  type PinnedImage,
  tryParseImageReference,
} from "../../shared/image/image-reference.ts";
import type { Logger } from "../../shared/log/logger.ts";
import { silentLogger } from "../../shared/log/logger.ts";
import { detectCopy } from "../copies/detect-copy.ts";
import { submissionContent } from "../copies/submission-content.ts";
import type { FeeVerdict } from "../fees/fee-decision.ts";
import type { ControllerStore } from "../store/controller-store.ts";
import type { SubmissionRow } from "../store/submission-table.ts";

/** One registered hotkey's commitment as read from the chain. */
export interface CommitmentEntry {
  hotkey: string;
  /** The hotkey's uid on the subnet now. */
  uid: number;
  /** The commitment's text (its fields joined as the submission parser expects). */
  raw: string;
  /** Block the commitment was made in. */
  commitBlock: number;
  /** Already parsed by the chain client's submission parser; `raw` is parsed when absent. */
  parsed?: ReturnType<SubmissionParser>;
  /** Block the content became public (the reveal's for a timelocked commitment). @default commitBlock */
  priorityBlock?: number;
  /**
   * Index of its Commitment / CommitmentRevealed event in System.Events at priorityBlock;
   * undefined when unknown (two hotkeys' same content in one block then belongs to neither).
   */
  priorityIndex?: number;
}

/** A timelocked commitment still sealed: shown as waiting, evaluated once the chain reveals it. */
export interface PendingTimelockedCommitment {
  hotkey: string;
  uid: number | undefined;
  revealRound: number;
  commitBlock: number;
}

/** Meta key holding the pending timelocked commitments of the last intake (JSON array). */
export const pendingTimelockedMetaKey = "intake.pending_timelocked";

/** The pending timelocked commitments recorded by the last intake. */
export function pendingTimelocked(store: ControllerStore): PendingTimelockedCommitment[] {
  const raw = store.getMeta(pendingTimelockedMetaKey);
  return raw ? (JSON.parse(raw) as PendingTimelockedCommitment[]) : [];
}

/** Every commitment of the subnet's registered hotkeys at one finalized block. */
export interface CommitmentSnapshot {
  block: number;
  /** Registered hotkeys with a commitment; a hotkey missing here is deregistered (or withdrew). */
  entries: readonly CommitmentEntry[];
  /** Timelocked commitments not yet revealed (not submissions yet). @default [] */
  pending?: readonly PendingTimelockedCommitment[];
  /**
   * Earlier reveals found in finalized CommitmentRevealed events (beyond what RevealedCommitments
   * still holds), oldest first: recorded as superseded submissions, so copy detection knows who
   * revealed what first even when this controller never saw them as current. @default []
   */
  history?: readonly CommitmentEntry[];
  /** Runs inside intake's transaction once the snapshot is stored (e.g. to advance a chain cursor with it). */
  onIngested?: () => void;
}

/** Turns a commitment's text into a pinned image, or says why it cannot. */
export type SubmissionParser = (
  raw: string,
) => { ok: true; image: PinnedImage } | { ok: false; error: string };

/**
 * The default parser: the commitment is an image reference pinned by digest,
 * `[registry/]repository[:tag]@sha256:<64 hex>`, with surrounding whitespace ignored.
 * The chain client's submission parser (issue 8) replaces it when the format grows.
 */
export const parseImageCommitment: SubmissionParser = (raw) => tryParseImageReference(raw.trim());

/** What one intake pass changed. */
export interface IntakeSummary {
  block: number;
  /** New submissions waiting for a round. */
  pending: string[];
  /** Submissions recorded as copies at once (same digest as an earlier one of another hotkey). */
  copies: string[];
  /** Commitments that could not be parsed, recorded with the reason. */
  malformed: string[];
  /** Earlier submissions replaced by their hotkey's newer commitment. */
  superseded: string[];
  /** Submissions whose hotkey re-committed the same digest: kept, with their state and seat. */
  kept: string[];
  /** Submissions whose hotkey left the subnet. */
  deregistered: string[];
  /** New submissions whose fee was not paid: recorded with the reason, never evaluated. */
  unpaid: string[];
}

/** The submission fee check (controller/fees/fee-ledger.ts). */
export interface FeeCheck {
  /** Whether the commitment paid; "wait" when the ledger has not read its block yet. */
  decide(candidate: {
    submissionId: string;
    hotkey: string;
    digest: string;
    commitBlock: number;
  }): FeeVerdict;
  /** Records that the payment paid for the submission; false when it already paid for another. */
  consume(paymentId: string, submissionId: string): boolean;
}

/** Options of {@link ingestCommitments}. */
export interface IngestOptions {
  store: ControllerStore;
  snapshot: CommitmentSnapshot;
  /** @default parseImageCommitment */
  parse?: SubmissionParser;
  /** The submission fee check; without it every well-formed commitment is evaluated. */
  fees?: FeeCheck;
  logger?: Logger;
}

const live = ["pending", "evaluated", "failed", "copy", "malformed", "unpaid"] as const;
// States a re-commit of the same digest keeps (a copy stays a copy; a failed image is retried).
const kept = new Set<SubmissionRow["state"]>(["pending", "evaluated", "copy"]);

/**
 * Brings the store up to a snapshot, in one transaction: a new or changed commitment becomes a
 * submission (the latest per hotkey; the previous one is superseded); an unparseable one is
 * recorded as malformed with the reason; one whose digest an earlier submission of another
 * hotkey already committed is recorded as a copy at once; one whose fee was not paid is recorded
 * as unpaid with the reason (never evaluated, owning no content; committing the same digest again
 * with the fee makes it a fresh submission); a hotkey no longer registered drops out. Running it
 * twice on the same snapshot changes nothing.
 */
export function ingestCommitments(options: IngestOptions): IntakeSummary {
  const { store, snapshot } = options;
  const parse = options.parse ?? parseImageCommitment;
  const log = options.logger ?? silentLogger;
  const summary: IntakeSummary = {
    block: snapshot.block,
    pending: [],
    copies: [],
    malformed: [],
    superseded: [],
    kept: [],
    deregistered: [],
    unpaid: [],
  };
  const seen = new Set<string>();
  const inserted: string[] = [];
  // Oldest first, so submissions are numbered in the order their content became public (who
  // owns content is decided by that priority, never by this order).
  const priority = (e: CommitmentEntry) => [e.priorityBlock ?? e.commitBlock, e.priorityIndex ?? Infinity];
  const entries = [...snapshot.entries].sort((a, b) => {
    const [ab, ai] = priority(a) as [number, number];
    const [bb, bi] = priority(b) as [number, number];
    return ab - bb || ai - bi || a.hotkey.localeCompare(b.hotkey);
  });

  store.transaction(() => {
    store.setMeta(pendingTimelockedMetaKey, JSON.stringify(snapshot.pending ?? []));
    const history = [...(snapshot.history ?? [])].sort((a, b) => a.commitBlock - b.commitBlock);
    for (const old of history) {
      const known = store.submissions
        .list()
        .some((s) => s.hotkey === old.hotkey && s.commitBlock === old.commitBlock && s.raw === old.raw);
      if (known) continue;
      const row = insertFromCommitment(
        store,
        old,
        snapshot.block,
        old.parsed ?? parse(old.raw),
        options.fees,
        true,
      );
      if (!row) continue;
      if (row.state === "pending")
        store.submissions.setState(
          row.id,
          "superseded",
          `revealed at block ${old.commitBlock} and replaced before this controller read it (from the chain's CommitmentRevealed events)`,
          row.copyOf,
        );
      log.info("history submission", { id: row.id, hotkey: row.hotkey, block: old.commitBlock });
    }
    for (const entry of entries) {
      if (seen.has(entry.hotkey)) {
        log.warn("snapshot lists a hotkey twice; the first (oldest) entry wins", { hotkey: entry.hotkey });
        continue;
      }
      seen.add(entry.hotkey);
      const previous = store.commitments.get(entry.hotkey);
      if (previous && previous.raw === entry.raw && previous.commitBlock === entry.commitBlock) {
        const current = store.submissions.get(previous.submissionId);
        if (current && current.uid !== entry.uid) store.submissions.setUid(current.id, entry.uid);
        continue;
      }
      const parsed = entry.parsed ?? parse(entry.raw);
      if (previous) {
        const old = store.submissions.get(previous.submissionId);
        // The same digest again (a re-commit, maybe under another tag): the submission stays,
        // with its state, its seat and its priority. A failed one is measured afresh instead.
        if (old && parsed.ok && old.digest === parsed.image.digest && kept.has(old.state)) {
          store.submissions.setRecommitted(
            old.id,
            entry.raw,
            formatImageReference(parsed.image),
            snapshot.block,
          );
          if (old.uid !== entry.uid) store.submissions.setUid(old.id, entry.uid);
          store.commitments.put({
            hotkey: entry.hotkey,
            raw: entry.raw,
            commitBlock: entry.commitBlock,
            submissionId: old.id,
          });
          summary.kept.push(old.id);
          log.info("re-commit of the same digest; submission kept", { id: old.id, hotkey: old.hotkey });
          continue;
        }
      }
      const row = insertFromCommitment(store, entry, snapshot.block, parsed, options.fees, false);
      // The fee ledger has not read the commitment's block: decide on a later pass, keeping the
      // hotkey's previous submission as it is meanwhile.
      if (!row) continue;
      if (previous) {
        const old = store.submissions.get(previous.submissionId);
        if (old && (live as readonly string[]).includes(old.state)) {
          store.submissions.setState(
            old.id,
            "superseded",
            `replaced by a newer commitment at block ${entry.commitBlock}`,
            old.copyOf,
          );
          summary.superseded.push(old.id);
        }
      }
      store.commitments.put({
        hotkey: entry.hotkey,
        raw: entry.raw,
        commitBlock: entry.commitBlock,
        submissionId: row.id,
      });
      inserted.push(row.id);
      log.info("new submission", { id: row.id, hotkey: row.hotkey, state: row.state, reason: row.reason });
    }
    // Counted once every entry is in: a later entry of the same block can contest an earlier one.
    for (const id of inserted) {
      const state = store.submissions.get(id)?.state;
      if (state === "malformed") summary.malformed.push(id);
      else if (state === "unpaid") summary.unpaid.push(id);
      else if (state === "copy") summary.copies.push(id);
      else summary.pending.push(id);
    }
    snapshot.onIngested?.();
    for (const c of store.commitments.list()) {
      if (seen.has(c.hotkey)) continue;
      const sub = store.submissions.get(c.submissionId);
      if (sub && (live as readonly string[]).includes(sub.state)) {
        store.submissions.setState(
          sub.id,
          "deregistered",
          `hotkey left the subnet (not registered at block ${snapshot.block})`,
          sub.copyOf,
        );
        summary.deregistered.push(sub.id);
      }
      store.commitments.delete(c.hotkey);
    }
  });
  return summary;
}

/**
 * Stores a commitment as a submission: malformed, unpaid, a copy, or pending. Undefined (nothing
 * stored) when its fee cannot be decided yet; a history entry is then decided unpaid instead, as
 * the ledger never reads further back.
 */
function insertFromCommitment(
  store: ControllerStore,
  entry: CommitmentEntry,
  block: number,
  parsed: ReturnType<SubmissionParser>,
  fees: FeeCheck | undefined,
  history: boolean,
): SubmissionRow | undefined {
  const base = {
    hotkey: entry.hotkey,
    uid: entry.uid,
    raw: entry.raw,
    commitBlock: entry.commitBlock,
    priorityBlock: entry.priorityBlock ?? entry.commitBlock,
    priorityIndex: entry.priorityIndex ?? null,
    seenBlock: block,
  };
  if (!parsed.ok) {
    return store.submissions.insert({
      ...base,
      image: null,
      digest: null,
      state: "malformed",
      reason: `${parsed.error}. Commit a reference pinned by digest, e.g. registry.example.com/you/server:v1@sha256:<64 hex>`,
    });
  }
  const fee = fees?.decide({
    submissionId: "",
    hotkey: entry.hotkey,
    digest: parsed.image.digest,
    commitBlock: entry.commitBlock,
  });
  if (fee?.kind === "wait" && !history) return undefined;
  const row = store.submissions.insert({
    ...base,
    image: formatImageReference(parsed.image),
    digest: parsed.image.digest,
    state: "pending",
  });
  if (fee && fee.kind !== "paid") {
    store.submissions.setState(
      row.id,
      "unpaid",
      fee.kind === "unpaid" ? fee.reason : `unpaid: ${fee.reason}`,
    );
    return store.submissions.get(row.id) as SubmissionRow;
  }
  if (fee?.kind === "paid" && fees && !fees.consume(fee.paymentId, row.id)) {
    store.submissions.setState(
      row.id,
      "unpaid",
      `unpaid: the payment ${fee.paymentId} already paid for another submission`,
    );
    return store.submissions.get(row.id) as SubmissionRow;
  }
  // Every submission ever stored with a digest takes part: ownership is decided across history.
  // Except unpaid ones: a free commitment must not make a paid one a copy.
  const others = store.submissions
    .list()
    .filter((s) => s.digest !== null && s.id !== row.id && s.state !== "unpaid")
    .map(submissionContent);
  const copy = detectCopy({ candidate: submissionContent(row), others });
  if (!copy) return row;
  store.submissions.setState(row.id, "copy", copy.reason, copy.originalId);
  // Content contested within one block: the rival judged before this one arrived owns it no more.
  const rival = store.submissions.get(copy.originalId);
  if (copy.contested && rival && kept.has(rival.state) && rival.state !== "copy") {
    const all = store.submissions
      .list()
      .filter((s) => s.digest !== null && s.id !== rival.id && s.state !== "unpaid")
      .map(submissionContent);
    const again = detectCopy({ candidate: submissionContent(rival), others: all });
    if (again?.contested) store.submissions.setState(rival.id, "copy", again.reason, again.originalId);
  }
  return store.submissions.get(row.id) as SubmissionRow;
}
