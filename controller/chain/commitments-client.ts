import type { Codec } from "@polkadot/types/types";
import { decodeCommitmentText } from "../../shared/timelock/commitment-payload.ts";
import type { ChainClient, FinalizedBlock } from "./chain-client.ts";
import { type CommitmentField, type ParsedSubmission, parseSubmission } from "./submission-parser.ts";

// Miners commit either in the clear (set_commitment with a Raw/BigRaw field: visible at once) or
// drand-timelocked (set_reveal_commitment: a TimelockEncrypted field the chain opens when the
// round's pulse arrives, appending the plaintext to RevealedCommitments and removing the field).
// A hotkey's submission is its latest visible commitment: the plain one of CommitmentOf or the
// newest reveal, whichever is later (a reveal happens in on_initialize, before the block's
// extrinsics, so a plain commit of the same block is later). Its priority for copy detection is
// when its content became public: (block, index of its Commitment / CommitmentRevealed event).

/** One hotkey's current submission and what it parsed to. */
export interface CommitmentRecord {
  hotkey: string;
  /** The hotkey's uid, undefined when it is no longer registered. */
  uid: number | undefined;
  /** Block the content became public: the plain commit's block, or the reveal's. */
  block: number;
  /** "plain": CommitmentOf; "revealed": the newest RevealedCommitments entry. */
  source: "plain" | "revealed";
  /** Index of its Commitments.Commitment / CommitmentRevealed event in System.Events at `block`; undefined when the events are no longer readable. */
  eventIndex: number | undefined;
  submission: ParsedSubmission;
  /** A timelocked commitment of this hotkey still waiting for its round, if any. */
  pendingReveal?: { revealRound: number; commitBlock: number } | undefined;
}

/** A hotkey whose only commitment is timelocked and not yet revealed. */
export interface PendingReveal {
  hotkey: string;
  uid: number | undefined;
  revealRound: number;
  commitBlock: number;
}

/** Reads every hotkey's current submission (plain or revealed) and the still-sealed ones, at one block. */
export async function readSubmissions(
  client: ChainClient,
  netuid: number,
  at?: FinalizedBlock,
): Promise<{ records: CommitmentRecord[]; pending: PendingReveal[] }> {
  const head = at ?? (await client.finalizedHead());
  const api = await client.api.at(head.hash);
  const [plainEntries, revealedEntries, metagraph] = await Promise.all([
    api.query.commitments?.commitmentOf?.entries(netuid) ?? [],
    api.query.commitments?.revealedCommitments?.entries(netuid) ?? [],
    client.readMetagraph(netuid, head),
  ]);
  const uidByHotkey = new Map(metagraph.neurons.map((n) => [n.hotkey, n.uid]));
  const plain = new Map<
    string,
    {
      block: number;
      submission: ParsedSubmission | undefined;
      pending?: { revealRound: number; commitBlock: number };
    }
  >();
  for (const [key, value] of plainEntries) {
    const hotkey = String(key.args[1]?.toString());
    try {
      const registration = (
        value as unknown as { unwrap(): Codec & { block: Codec; info: { fields: Codec[] } } }
      ).unwrap();
      const block = Number(registration.block.toString());
      const fields = registration.info.fields.map(toCommitmentField);
      const sealed = registration.info.fields.find(
        (f) => (f as Codec & { type?: string }).type === "TimelockEncrypted",
      ) as (Codec & { value: { revealRound: Codec } }) | undefined;
      const open = fields.filter((f) => f.variant !== "TimelockEncrypted");
      plain.set(hotkey, {
        block,
        // A commitment that is only a sealed field has no visible content yet.
        submission: sealed && open.length === 0 ? undefined : parseSubmission(open, { committer: hotkey }),
        ...(sealed
          ? { pending: { revealRound: Number(sealed.value.revealRound.toString()), commitBlock: block } }
          : {}),
      });
    } catch (error) {
      plain.set(hotkey, {
        block: 0,
        submission: { ok: false, reason: `the commitment could not be decoded: ${(error as Error).message}` },
      });
    }
  }
  const revealed = new Map<string, { block: number; submission: ParsedSubmission }>();
  for (const [key, value] of revealedEntries) {
    const hotkey = String(key.args[1]?.toString());
    const list = (value as unknown as { unwrapOr(d: null): Iterable<[Codec, Codec]> | null }).unwrapOr(null);
    const latest = [...(list ?? [])].at(-1);
    if (!latest) continue;
    revealed.set(hotkey, {
      block: Number(latest[1].toString()),
      submission: parseRevealed(latest[0].toU8a(true), hotkey),
    });
  }
  const records: CommitmentRecord[] = [];
  const pending: PendingReveal[] = [];
  // Several commitments often share a block: read each block's events once.
  const eventsCache = new Map<number, Promise<BlockEvents | undefined>>();
  for (const hotkey of new Set([...plain.keys(), ...revealed.keys()])) {
    const p = plain.get(hotkey);
    const r = revealed.get(hotkey);
    const uid = uidByHotkey.get(hotkey);
    const usePlain = p?.submission !== undefined && (!r || p.block >= r.block);
    const chosen =
      usePlain && p?.submission
        ? { block: p.block, submission: p.submission, source: "plain" as const }
        : r
          ? { ...r, source: "revealed" as const }
          : undefined;
    if (p?.pending) pending.push({ hotkey, uid, ...p.pending });
    if (!chosen) continue;
    records.push({
      hotkey,
      uid,
      block: chosen.block,
      source: chosen.source,
      eventIndex: await eventIndex(client, netuid, hotkey, chosen.block, chosen.source, eventsCache),
      submission: chosen.submission,
      pendingReveal: p?.pending,
    });
  }
  await rankSameBlockReveals(client, netuid, records);
  records.sort(
    (a, b) =>
      a.block - b.block || (a.eventIndex ?? 0) - (b.eventIndex ?? 0) || a.hotkey.localeCompare(b.hotkey),
  );
  return {
    records,
    pending: pending.sort((a, b) => a.commitBlock - b.commitBlock || a.hotkey.localeCompare(b.hotkey)),
  };
}

/** Revealed bytes are a SCALE str holding the same text a plain commitment holds. */
export function parseRevealed(bytes: Uint8Array, committer?: string): ParsedSubmission {
  let text: string;
  try {
    text = decodeCommitmentText(bytes);
  } catch (error) {
    return {
      ok: false,
      reason: `the revealed commitment is not a SCALE string: ${(error as Error).message}`,
    };
  }
  return parseSubmission([{ variant: "BigRaw", bytes: new TextEncoder().encode(text) }], {
    ...(committer !== undefined ? { committer } : {}),
  });
}

/**
 * Reveals of one block happen in the chain's own order (TimelockedIndex, i.e. by account id), not
 * in the order the sealed commitments were made: a hotkey that replays another's ciphertext
 * reveals in the same block. Within a block, reveals are therefore ranked by the block their
 * sealed commitment was made in (read from CommitmentOf just before the reveal), keeping the
 * range of their event indexes, so they still come before the block's plain commitments. When
 * that block is unknown or equal (a copy front-running the original in the mempool), the order
 * is unknown: eventIndex becomes undefined and copy detection lets neither own the content.
 */
async function rankSameBlockReveals(
  client: ChainClient,
  netuid: number,
  records: CommitmentRecord[],
): Promise<void> {
  const byBlock = new Map<number, CommitmentRecord[]>();
  for (const r of records)
    if (r.source === "revealed") byBlock.set(r.block, [...(byBlock.get(r.block) ?? []), r]);
  for (const [block, group] of byBlock) {
    if (group.length < 2) continue;
    const committed = await Promise.all(group.map((r) => sealedCommitBlock(client, netuid, r.hotkey, block)));
    const slots = group
      .map((r) => r.eventIndex)
      .filter((i): i is number => i !== undefined)
      .sort((a, b) => a - b);
    const order = group
      .map((r, i) => ({ r, at: committed[i] }))
      .sort((a, b) => (a.at ?? Infinity) - (b.at ?? Infinity));
    order.forEach(({ r, at }, i) => {
      const tied = at === undefined || order.some((o) => o !== order[i] && o.at === at);
      r.eventIndex = tied || slots.length !== group.length ? undefined : slots[i];
    });
  }
}

/** The block the hotkey's sealed commitment was made in, from CommitmentOf at the block before its reveal. */
async function sealedCommitBlock(
  client: ChainClient,
  netuid: number,
  hotkey: string,
  revealBlock: number,
): Promise<number | undefined> {
  try {
    const hash = await client.api.rpc.chain.getBlockHash(revealBlock - 1);
    const value = await (await client.api.at(hash)).query.commitments?.commitmentOf?.(netuid, hotkey);
    const json = value?.toJSON() as { block?: number } | null | undefined;
    return typeof json?.block === "number" ? json.block : undefined;
  } catch {
    return undefined;
  }
}

/** Index of the hotkey's (last) Commitment or CommitmentRevealed event at `block`. */
type BlockEvents = { event: { section: string; method: string; data: Codec[] } }[];

async function eventIndex(
  client: ChainClient,
  netuid: number,
  hotkey: string,
  block: number,
  source: "plain" | "revealed",
  cache: Map<number, Promise<BlockEvents | undefined>>,
): Promise<number | undefined> {
  const method = source === "plain" ? "Commitment" : "CommitmentRevealed";
  if (!cache.has(block)) cache.set(block, blockEvents(client, block));
  const events = await cache.get(block);
  if (!events) return undefined;
  let found: number | undefined;
  events.forEach(({ event }, i) => {
    if (
      event.section === "commitments" &&
      event.method === method &&
      Number(event.data[0]?.toString()) === netuid &&
      event.data[1]?.toString() === hotkey
    )
      found = i;
  });
  return found;
}

async function blockEvents(client: ChainClient, block: number): Promise<BlockEvents | undefined> {
  try {
    const hash = await client.api.rpc.chain.getBlockHash(block);
    return (
      ((await (await client.api.at(hash)).query.system?.events?.()) as unknown as BlockEvents | undefined) ??
      []
    );
  } catch {
    // A pruned node no longer has that block's state: the order inside the block is unknown.
    return undefined;
  }
}

function toCommitmentField(field: Codec): CommitmentField {
  const data = field as Codec & { type?: string; value?: Codec };
  const variant = String(data.type ?? "Unknown");
  const bytes = /^(Raw\d+|BigRaw)$/.test(variant) && data.value ? data.value.toU8a(true) : new Uint8Array();
  return { variant, bytes };
}

/** One reveal found in a finalized block's CommitmentRevealed event. */
export interface RevealEvent {
  hotkey: string;
  block: number;
  eventIndex: number;
  submission: ParsedSubmission;
}

/**
 * The reveals of blocks `from`..`to` (inclusive), from their CommitmentRevealed events and the
 * RevealedCommitments entries of that block: the history RevealedCommitments no longer holds
 * (it keeps a hotkey's last 10). Needs those blocks' state, so read it while they are recent.
 */
export async function readRevealEvents(
  client: ChainClient,
  netuid: number,
  from: number,
  to: number,
): Promise<RevealEvent[]> {
  const out: RevealEvent[] = [];
  for (let block = Math.max(1, from); block <= to; block += 1) {
    const hash = await client.api.rpc.chain.getBlockHash(block);
    const at = await client.api.at(hash);
    const events =
      ((await at.query.system?.events?.()) as unknown as {
        event: { section: string; method: string; data: Codec[] };
      }[]) ?? [];
    const byHotkey = new Map<string, number[]>();
    events.forEach(({ event }, i) => {
      if (event.section !== "commitments" || event.method !== "CommitmentRevealed") return;
      if (Number(event.data[0]?.toString()) !== netuid) return;
      const hotkey = String(event.data[1]?.toString());
      byHotkey.set(hotkey, [...(byHotkey.get(hotkey) ?? []), i]);
    });
    for (const [hotkey, indexes] of byHotkey) {
      const stored = (await at.query.commitments?.revealedCommitments?.(netuid, hotkey)) as unknown as {
        unwrapOr(d: null): Iterable<[Codec, Codec]> | null;
      };
      const ofBlock = [...(stored?.unwrapOr(null) ?? [])].filter(([, b]) => Number(b.toString()) === block);
      // The kth event of a hotkey in a block is its kth entry of that block.
      indexes.forEach((eventIndex, k) => {
        const entry = ofBlock[k];
        if (entry)
          out.push({ hotkey, block, eventIndex, submission: parseRevealed(entry[0].toU8a(true), hotkey) });
      });
    }
  }
  return out;
}
