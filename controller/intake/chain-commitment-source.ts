import type { ChainClient } from "../chain/chain-client.ts";
import type { CommitmentSource } from "../rounds/controller-cycle.ts";
import type { CommitmentEntry } from "./ingest-commitments.ts";

/** Options of {@link chainCommitmentSource}. */
export interface ChainCommitmentSourceOptions {
  client: Pick<ChainClient, "finalizedHead" | "readSubmissions">;
  netuid: number;
}

/**
 * Reads every commitment of the subnet at the finalized head through the chain client, whose
 * submission parser has already judged each one. A commitment of a hotkey that is no longer
 * registered is left out (its submission drops out at intake).
 */
export function chainCommitmentSource(options: ChainCommitmentSourceOptions): CommitmentSource & {
  finalizedHead(): Promise<{ block: number; hash: string }>;
} {
  const { client, netuid } = options;
  return {
    async snapshot() {
      const head = await client.finalizedHead();
      const { records, pending } = await client.readSubmissions(netuid, head);
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
      return { block: head.number, entries, pending: pending.filter((p) => p.uid !== undefined) };
    },
    async finalizedHead() {
      const head = await client.finalizedHead();
      return { block: head.number, hash: head.hash };
    },
  };
}
