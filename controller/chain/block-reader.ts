import type { ApiPromise } from "@polkadot/api";
import type { EventRecord, Extrinsic } from "@polkadot/types/interfaces";
import type { Codec } from "@polkadot/types/types";

// A finalized block as plain data: its signed extrinsics with their calls (a batch flattened into
// the calls it carries) and, when asked, what each did (its events, success). Readers over many
// blocks (the fee ledger) look at the calls first and fetch events only for the blocks that matter:
// a block body stays readable on every node, its events only while the node keeps that state.

/** One call of an extrinsic; a batch's inner calls follow it with their position. */
export interface CallRecord {
  section: string;
  method: string;
  /** Arguments as @polkadot/api renders them in JSON (addresses SS58, bytes 0x-hex, numbers). */
  args: unknown[];
  /** Position inside utility batches, [] for the extrinsic's own call. */
  path: number[];
  /**
   * True when the call ran all-or-nothing with the extrinsic: it is the extrinsic's call or inside
   * batch_all only. Inside batch/force_batch a call may not have run although the extrinsic succeeded.
   */
  atomic: boolean;
}

/** One signed extrinsic of a block. */
export interface ExtrinsicRecord {
  index: number;
  hash: string;
  signer: string;
  nonce: number;
  /** The extrinsic's call, then (depth first) the calls inside its batches. */
  calls: CallRecord[];
}

/** What an extrinsic did, from System.Events. */
export interface ExtrinsicOutcome {
  success: boolean;
  /** Events in order, `section.method` and data as JSON. */
  events: { name: string; data: unknown[] }[];
}

/** A block's number, hash and signed extrinsics (unsigned inherents are left out). */
export interface BlockRecord {
  number: number;
  hash: string;
  extrinsics: ExtrinsicRecord[];
}

const batches = new Set(["utility.batch", "utility.batchAll", "utility.forceBatch"]);

/** Reads a block's signed extrinsics and their (flattened) calls. */
export async function readBlock(api: ApiPromise, hash: string): Promise<BlockRecord> {
  const signed = await api.rpc.chain.getBlock(hash);
  const extrinsics: ExtrinsicRecord[] = [];
  signed.block.extrinsics.forEach((x: Extrinsic, index) => {
    if (!x.isSigned) return;
    extrinsics.push({
      index,
      hash: x.hash.toHex(),
      signer: x.signer.toString(),
      nonce: x.nonce.toNumber(),
      calls: flatten(x.method as unknown as CallCodec, [], true),
    });
  });
  return { number: signed.block.header.number.toNumber(), hash, extrinsics };
}

interface CallCodec {
  section: string;
  method: string;
  args: Codec[];
}

function flatten(call: CallCodec, path: number[], atomic: boolean): CallRecord[] {
  const name = `${call.section}.${call.method}`;
  const own: CallRecord = {
    section: call.section,
    method: call.method,
    args: call.args.map((a) => a.toJSON()),
    path,
    atomic,
  };
  if (!batches.has(name)) return [own];
  const inner = [...((call.args[0] as unknown as CallCodec[] | undefined) ?? [])];
  const innerAtomic = atomic && name === "utility.batchAll";
  // The batch's own args repeat its calls as JSON: keep the record small.
  return [{ ...own, args: [] }, ...inner.flatMap((c, i) => flatten(c, [...path, i], innerAtomic))];
}

/** What each extrinsic of the block did, by extrinsic index. */
export async function readOutcomes(api: ApiPromise, hash: string): Promise<Map<number, ExtrinsicOutcome>> {
  const records = ((await (await api.at(hash)).query.system?.events?.()) ?? []) as unknown as EventRecord[];
  const outcomes = new Map<number, ExtrinsicOutcome>();
  for (const record of records) {
    if (!record.phase.isApplyExtrinsic) continue;
    const index = record.phase.asApplyExtrinsic.toNumber();
    const outcome = outcomes.get(index) ?? { success: false, events: [] };
    const name = `${record.event.section}.${record.event.method}`;
    outcome.events.push({ name, data: record.event.data.map((d) => d.toJSON()) });
    if (name === "system.ExtrinsicSuccess") outcome.success = true;
    outcomes.set(index, outcome);
  }
  return outcomes;
}
