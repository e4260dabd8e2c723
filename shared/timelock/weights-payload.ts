import { compactFromU8aLim, compactToU8a, u8aConcat } from "@polkadot/util";
import { TimelockError } from "./timelock-error.ts";

/**
 * What a CRv4 commit encrypts (subtensor's `WeightsTlockPayload`): SCALE of
 * `{hotkey: Vec<u8>, uids: Vec<u16>, values: Vec<u16>, version_key: u64}`. The chain applies the
 * weights only when `hotkey` decodes to the committing account, so a ciphertext replayed by
 * another validator is dropped.
 */
export interface WeightsPayload {
  /** The committing hotkey's 32-byte public key. */
  hotkey: Uint8Array;
  uids: number[];
  values: number[];
  versionKey: bigint;
}

/** SCALE-encodes a weights payload. */
export function encodeWeightsPayload(payload: WeightsPayload): Uint8Array {
  if (payload.uids.length !== payload.values.length)
    throw new TimelockError(
      "bad-payload",
      `${payload.uids.length} uids but ${payload.values.length} values: they must pair up`,
    );
  for (const v of [...payload.uids, ...payload.values])
    if (!Number.isInteger(v) || v < 0 || v > 0xffff)
      throw new TimelockError("bad-payload", `${v} is not a u16`);
  if (payload.versionKey < 0n || payload.versionKey >= 2n ** 64n)
    throw new TimelockError("bad-payload", `version key ${payload.versionKey} is not a u64`);
  const u64 = new Uint8Array(8);
  new DataView(u64.buffer).setBigUint64(0, payload.versionKey, true);
  return u8aConcat(
    compactToU8a(payload.hotkey.length),
    payload.hotkey,
    u16Vec(payload.uids),
    u16Vec(payload.values),
    u64,
  );
}

/** Decodes a weights payload, refusing trailing bytes and short input (TimelockError "bad-payload"). */
export function decodeWeightsPayload(bytes: Uint8Array): WeightsPayload {
  let offset = 0;
  const compact = (what: string): number => {
    let read: [number, bigint];
    if (offset >= bytes.length) throw new TimelockError("bad-payload", `the payload ends before ${what}`);
    try {
      const [length, value] = compactFromU8aLim(bytes.subarray(offset));
      read = [length, BigInt(value.toString())];
    } catch {
      throw new TimelockError("bad-payload", `the payload ends inside the length of ${what}`);
    }
    offset += read[0];
    if (read[1] > BigInt(bytes.length - offset))
      throw new TimelockError("bad-payload", `${what} claims more items than the payload holds`);
    return Number(read[1]);
  };
  const take = (n: number, what: string): Uint8Array => {
    if (offset + n > bytes.length) throw new TimelockError("bad-payload", `the payload ends inside ${what}`);
    const out = bytes.subarray(offset, offset + n);
    offset += n;
    return out;
  };
  const hotkey = take(compact("the hotkey"), "the hotkey");
  const u16s = (what: string) => {
    const count = compact(what);
    const raw = take(count * 2, what);
    return Array.from({ length: count }, (_, i) => (raw[2 * i] ?? 0) | ((raw[2 * i + 1] ?? 0) << 8));
  };
  const uids = u16s("uids");
  const values = u16s("values");
  const versionKey = new DataView(take(8, "the version key").slice().buffer).getBigUint64(0, true);
  if (offset !== bytes.length)
    throw new TimelockError("bad-payload", `${bytes.length - offset} bytes follow the weights payload`);
  return { hotkey: hotkey.slice(), uids, values, versionKey };
}

function u16Vec(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  values.forEach((v, i) => {
    out[2 * i] = v & 0xff;
    out[2 * i + 1] = v >> 8;
  });
  return u8aConcat(compactToU8a(values.length), out);
}
