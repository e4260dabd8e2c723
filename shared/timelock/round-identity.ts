import { bls12_381 } from "@noble/curves/bls12-381.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { CacheonError } from "../errors/cacheon-error.ts";

/** The point type of G1 (signatures and round identities live there in drand's unchained G1 scheme). */
export type G1Point = ReturnType<typeof bls12_381.G1.Point.fromHex>;
/** The point type of G2 (public keys and the ciphertext's U). */
export type G2Point = ReturnType<typeof bls12_381.G2.Point.fromHex>;

/** Largest round a u64 holds; rounds are u64 on chain and in the identity. */
const maxRound = 2n ** 64n - 1n;

/** The message a beacon signs for `round`: SHA-256 of the round as a big-endian u64. */
export function roundMessage(round: number | bigint): Uint8Array {
  const value = BigInt(round);
  if (value < 0n || value > maxRound)
    throw new CacheonError("invalid-argument", `round ${round} is not a u64`);
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, value, false);
  return sha256(bytes);
}

/** H(id): the round's message hashed to G1 (RFC 9380 hash-to-curve with the beacon's DST). */
export function roundIdentity(round: number | bigint, dst: string): G1Point {
  return bls12_381.shortSignatures.hash(roundMessage(round), dst);
}
