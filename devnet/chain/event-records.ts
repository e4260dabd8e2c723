import { compactToU8a, stringCamelCase, u8aConcat, u8aToHex } from "@polkadot/util";
import type { RuntimeEvent } from "../pallets/pallet.ts";
import type { ChainMetadata } from "../runtime/chain-metadata.ts";

/** When an event happened in the block, as frame_system's Phase. */
export type EventPhase = { applyExtrinsic: number } | "initialization" | "finalization";

/** One EventRecord, SCALE-encoded as frame_system stores it: phase, event, topics (none). */
export function encodeEventRecord(meta: ChainMetadata, phase: EventPhase, event: RuntimeEvent): Uint8Array {
  const { registry, metadata } = meta;
  const pallet = metadata.asV16.pallets.find((p) => stringCamelCase(p.name) === event.section);
  if (!pallet || pallet.events.isNone) throw new Error(`the metadata has no events for ${event.section}`);
  const variants = registry.lookup.getSiType(pallet.events.unwrap().type).def.asVariant.variants;
  const variant = variants.find((v) => v.name.toString() === event.method);
  if (!variant) throw new Error(`the metadata has no event ${event.section}.${event.method}`);
  const fields = variant.fields.map((field, i) =>
    registry.createTypeUnsafe(registry.createLookupType(field.type), [event.data[i]]).toU8a(),
  );
  return u8aConcat(
    encodePhase(meta, phase),
    new Uint8Array([pallet.index.toNumber(), variant.index.toNumber()]),
    ...fields,
    new Uint8Array([0]),
  );
}

function encodePhase(meta: ChainMetadata, phase: EventPhase): Uint8Array {
  if (phase === "finalization") return new Uint8Array([1]);
  if (phase === "initialization") return new Uint8Array([2]);
  return u8aConcat(new Uint8Array([0]), meta.registry.createType("u32", phase.applyExtrinsic).toU8a());
}

/** The System.Events value: a SCALE Vec of encoded records. */
export function encodeEvents(records: Uint8Array[]): string {
  return u8aToHex(u8aConcat(compactToU8a(records.length), ...records));
}
