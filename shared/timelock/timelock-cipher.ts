import { gcm } from "@noble/ciphers/aes.js";
import { bls12_381 } from "@noble/curves/bls12-381.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { concatBytes, randomBytes } from "@noble/hashes/utils.js";
import type { BeaconInfo } from "./beacon-info.ts";
import { decodeG2, decodeSignature } from "./beacon-signature.ts";
import { gtBytes } from "./gt-bytes.ts";
import { roundIdentity } from "./round-identity.ts";
import { encodeTimelockCiphertext, parseTimelockCiphertext } from "./timelock-ciphertext.ts";
import { TimelockError } from "./timelock-error.ts";

// Boneh-Franklin "FullIdent" over BLS12-381 with an AES-256-GCM body, as ideal-lab5's tle crate
// (the revision bittensor-drand pins) does it, so the chain and the Python SDK can open what we seal
// and we can open theirs:
//   esk, sigma random (32 bytes); r = SHA-256(sigma || esk) mod q; U = r*G2;
//   V = sigma XOR SHA-256(ser(e(H(id), r*pk))); W = esk XOR SHA-256(sigma);
//   body = AES-256-GCM(key esk, random 12-byte nonce, no AAD).
// Opening with the round's signature s = sk*H(id): e(s, U) = e(H(id), r*pk) gives sigma, then esk,
// and U == r*G2 proves the pair was made together (so a tampered V or W is caught before AES).

const { Fr } = bls12_381.fields;

/** Options of {@link timelockEncrypt}. */
export interface TimelockEncryptOptions {
  /** Random source, for known-answer tests. @default crypto-secure randomBytes */
  random?: (length: number) => Uint8Array;
}

/** Seals `plaintext` so that only the beacon's signature of `round` opens it. */
export function timelockEncrypt(
  plaintext: Uint8Array,
  round: number | bigint,
  beacon: Pick<BeaconInfo, "publicKey" | "dst">,
  options: TimelockEncryptOptions = {},
): Uint8Array {
  const random = options.random ?? randomBytes;
  const pk = decodeG2(beacon.publicKey, "the beacon public key");
  const identity = roundIdentity(round, beacon.dst);
  const esk = random(32);
  let sigma: Uint8Array;
  let r: bigint;
  do {
    sigma = random(32);
    r = scalar(sigma, esk);
  } while (r === 0n);
  const u = bls12_381.G2.Point.BASE.multiply(r);
  const g = bls12_381.pairing(identity, pk.multiply(r));
  const v = xor(sigma, sha256(gtBytes(g)));
  const w = xor(esk, sha256(sigma));
  const nonce = random(12);
  const sealed = gcm(esk, nonce).encrypt(plaintext);
  return encodeTimelockCiphertext({ u: u.toBytes(true), v, w, sealed, nonce });
}

/**
 * Opens a ciphertext with a round's signature (48-byte compressed G1). Throws TimelockError:
 * a malformed layout or point names the field; a signature of another round or beacon is
 * "wrong-signature"; an altered body is "corrupt-body". The signature itself is not verified
 * against a public key here: {@link verifyBeaconSignature} does that where the source is untrusted.
 */
export function timelockDecrypt(ciphertext: Uint8Array, signature: Uint8Array): Uint8Array {
  const ct = parseTimelockCiphertext(ciphertext);
  const u = decodeG2(ct.u, "U");
  const sig = decodeSignature(signature);
  const sigma = xor(ct.v, sha256(gtBytes(bls12_381.pairing(sig, u))));
  const esk = xor(ct.w, sha256(sigma));
  const r = scalar(sigma, esk);
  if (r === 0n || !bls12_381.G2.Point.BASE.multiply(r).equals(u))
    throw new TimelockError(
      "wrong-signature",
      "the signature does not open this ciphertext (it was sealed to another round or beacon)",
    );
  try {
    return gcm(esk, ct.nonce).decrypt(ct.sealed);
  } catch {
    throw new TimelockError(
      "corrupt-body",
      "the AES-GCM tag does not match: the ciphertext's body was altered",
    );
  }
}

/** r = SHA-256(sigma || esk) read big-endian, reduced mod the group order (tle's h3). */
function scalar(sigma: Uint8Array, esk: Uint8Array): bigint {
  return Fr.create(bytesToBigInt(sha256(concatBytes(sigma, esk))));
}

function bytesToBigInt(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i += 1) out[i] = (a[i] ?? 0) ^ (b[i] ?? 0);
  return out;
}
