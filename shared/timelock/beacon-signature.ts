import { bls12_381 } from "@noble/curves/bls12-381.js";
import type { BeaconInfo } from "./beacon-info.ts";
import { type G1Point, type G2Point, roundIdentity } from "./round-identity.ts";
import { TimelockError } from "./timelock-error.ts";

const signatureBytes = 48;
const publicKeyBytes = 96;

/** Decodes a compressed G1 signature (48 bytes), refusing what is not a subgroup point. */
export function decodeSignature(bytes: Uint8Array): G1Point {
  if (bytes.length !== signatureBytes)
    throw new TimelockError(
      "bad-length",
      `a beacon signature is ${signatureBytes} bytes (compressed G1); got ${bytes.length}`,
    );
  return decodePoint(() => bls12_381.G1.Point.fromBytes(bytes), "the signature");
}

/** Decodes a compressed G2 point (96 bytes: a public key or a ciphertext's U). */
export function decodeG2(bytes: Uint8Array, what: string): G2Point {
  if (bytes.length !== publicKeyBytes)
    throw new TimelockError(
      "bad-length",
      `${what} is ${publicKeyBytes} bytes (compressed G2); got ${bytes.length}`,
    );
  return decodePoint(() => bls12_381.G2.Point.fromBytes(bytes), what);
}

function decodePoint<P extends { is0(): boolean; assertValidity(): void; isTorsionFree(): boolean }>(
  decode: () => P,
  what: string,
): P {
  let point: P;
  try {
    point = decode();
    point.assertValidity();
  } catch (error) {
    throw new TimelockError("bad-point", `${what} is not a valid curve point: ${(error as Error).message}`);
  }
  // The identity opens nothing and signs nothing; a point outside the subgroup is forged.
  if (point.is0()) throw new TimelockError("bad-point", `${what} is the point at infinity`);
  if (!point.isTorsionFree())
    throw new TimelockError("bad-point", `${what} is not in the prime-order subgroup`);
  return point;
}

/**
 * Whether `signature` is the beacon's BLS signature of `round`: e(sig, G2) == e(H(round), pk).
 * A pulse that passes is the round's decryption key; anything else must not be stored or used.
 */
export function verifyBeaconSignature(
  beacon: Pick<BeaconInfo, "publicKey" | "dst">,
  round: number | bigint,
  signature: Uint8Array,
): boolean {
  let sig: G1Point;
  let pk: G2Point;
  try {
    sig = decodeSignature(signature);
    pk = decodeG2(beacon.publicKey, "the beacon public key");
  } catch (error) {
    if (error instanceof TimelockError) return false;
    throw error;
  }
  return bls12_381.shortSignatures.verify(sig, roundIdentity(round, beacon.dst), pk);
}

/** Like {@link verifyBeaconSignature}, throwing TimelockError("bad-signature") with the round. */
export function assertBeaconSignature(
  beacon: Pick<BeaconInfo, "publicKey" | "dst">,
  round: number | bigint,
  signature: Uint8Array,
): G1Point {
  const sig = decodeSignature(signature);
  if (!verifyBeaconSignature(beacon, round, signature))
    throw new TimelockError("bad-signature", `the signature is not the beacon's signature of round ${round}`);
  return sig;
}
