import type { ChainClient } from "../chain/chain-client.ts";
import type { CommitmentSource } from "../rounds/controller-cycle.ts";
import type { ChainCursorTable } from "../store/chain-cursor-table.ts";
import type { CommitmentEntry } from "./ingest-commitments.ts";

/** Options of {@link chainCommitmentSource}. */
export interface ChainCommitmentSourceOptions {
  client: Pick<ChainClient, "finalizedHead" | "readSubmissions" | "readRevealEvents">;
  netuid: number;
  /**
   * Where the position in the chain's CommitmentRevealed history is kept (store.chainCursors). Without
   * it, only what RevealedCommitments still holds (a hotkey's last 10 reveals) is read.
   */
  cursors?: ChainCursorTable;
  /** Most blocks of reveal history read in one pass (a restart after a long stop catches up over several). @default 600 */
  historyBlocksPerPass?: number;
}

/**
 * Reads every commitment of the subnet at the finalized head through the chain client, whose
 * submission parser has already judged each one. A commitment of a hotkey that is no longer
 * registered is left out (its submission drops out at intake).
 */
export function chainCommitmentSource(options: ChainCommitmentSourceOptions): CommitmentSource & {
  finalizedHead(): Promise<{ block: number; hash: string }>;
} {
  const { client, netuid, cursors } = options;
  const cursorName = `commitment-reveals:${netuid}`;
  const readHistory = async (head: { number: number; hash: string }) => {
    if (!cursors) return { events: [], advance: () => {} };
    const cursor = cursors.get(cursorName);
    // A first start begins at the head: older reveals are in RevealedCommitments (or long settled).
    const from = cursor ? cursor.block + 1 : head.number;
    const to = Math.min(head.number, from + (options.historyBlocksPerPass ?? 600) - 1);
    const events = from <= to && cursor ? await client.readRevealEvents(netuid, from, to) : [];
    return {
      events,
      advance: () => cursors.set(cursorName, to, to === head.number ? head.hash : ""),
    };
  };
  return {
    async snapshot() {
      const head = await client.finalizedHead();
      const { records, pending } = await client.readSubmissions(netuid, head);
      const history = await readHistory(head);
      const entries: CommitmentEntry[] = [];
      for (const r of records) {
        if (r.uid === undefined) continue;
        entries.push({
          hotkey: r.hotkey,
          uid: r.uid,
          raw: r.submission.ok ? r.submission.reference : `unparseable: ${r.submission.reason}`,
          commitBlock: r.block,
          priorityBlock: r.block,
          ...(r.eventIndex !== undefined ? { priorityIndex: r.eventIndex } : {}),
          parsed: r.submission.ok
            ? { ok: true, image: r.submission.image }
            : { ok: false, error: r.submission.reason },
        });
      }
      const uidOf = new Map(records.map((r) => [r.hotkey, r.uid]));
      const current = new Set(records.map((r) => `${r.hotkey}@${r.block}`));
      return {
        block: head.number,
        entries,
        pending: pending.filter((p) => p.uid !== undefined),
        history: history.events.flatMap((e): CommitmentEntry[] => {
          const uid = uidOf.get(e.hotkey);
          // The current reveal of a hotkey is an entry already; deregistered hotkeys are left out.
          if (uid === undefined || current.has(`${e.hotkey}@${e.block}`)) return [];
          return [
            {
              hotkey: e.hotkey,
              uid,
              raw: e.submission.ok ? e.submission.reference : `unparseable: ${e.submission.reason}`,
              commitBlock: e.block,
              priorityBlock: e.block,
              priorityIndex: e.eventIndex,
              parsed: e.submission.ok
                ? { ok: true, image: e.submission.image }
                : { ok: false, error: e.submission.reason },
            },
          ];
        }),
        // The cursor moves in intake's transaction: a pass that fails to store reads the blocks again.
        onIngested: history.advance,
      };
    },
    async finalizedHead() {
      const head = await client.finalizedHead();
      return { block: head.number, hash: head.hash };
    },
  };
}
