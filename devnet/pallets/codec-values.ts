import type { Codec } from "@polkadot/types/types";

// Plain values out of decoded storage and call arguments. Absent values read as the type's zero,
// which is what a ValueQuery's default is for the numbers and flags the pallets read.

export function num(codec: Codec | undefined): number {
  return Number(codec?.toString() ?? 0);
}

export function big(codec: Codec | undefined): bigint {
  return BigInt(codec?.toString() ?? 0);
}

export function bool(codec: Codec | undefined): boolean {
  return codec?.toJSON() === true;
}

export function nums(codec: Codec | undefined): number[] {
  return ((codec?.toJSON() as number[] | undefined) ?? []).map(Number);
}
