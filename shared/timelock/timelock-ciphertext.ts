import { bytesToHex, concatBytes } from "@noble/hashes/utils.js";
import { TimelockError } from "./timelock-error.ts";

/** The only cipher suite bittensor-drand writes (tle's AESGCMStreamCipherProvider). */
export const aesGcmSuite = "AES_GCM_";
/** Bytes the layout adds to the plaintext: U 96, V 8+32, W 8+32, body 8+(8+tag 16)+(8+12), suite 8+8. */
export const ciphertextOverhead = 244;

const uBytes = 96;
const hashBytes = 32;
const nonceBytes = 12;
const tagBytes = 16;

/**
 * A tle ciphertext as bittensor-drand serialises it with arkworks (`TLECiphertext<TinyBLS381>`,
 * compressed): U (compressed G2) | Vec V | Vec W | Vec body | Vec suite, where each Vec is a
 * u64 little-endian length and the bytes, and body is itself Vec(AES ciphertext + tag) | Vec(nonce).
 */
export interface TimelockCiphertext {
  /** r*G2, compressed (96 bytes); not decoded here. */
  u: Uint8Array;
  /** sigma XOR H(e(H(id), r*pk)), 32 bytes. */
  v: Uint8Array;
  /** esk XOR H(sigma), 32 bytes. */
  w: Uint8Array;
  /** AES-256-GCM output with the 16-byte tag appended. */
  sealed: Uint8Array;
  /** AES-GCM nonce, 12 bytes. */
  nonce: Uint8Array;
}

/**
 * Parses the layout strictly: every length checked, the suite must be AES_GCM_, and no byte may
 * be left over. Throws TimelockError with the failing field. U's curve point is checked by
 * decryption ({@link timelockDecrypt}), not here, so a layout check needs no curve arithmetic.
 */
export function parseTimelockCiphertext(bytes: Uint8Array): TimelockCiphertext {
  const reader = new Reader(bytes);
  const u = reader.take(uBytes, "U (compressed G2)");
  const v = reader.vec("V");
  const w = reader.vec("W");
  const body = reader.vec("the body");
  const suite = reader.vec("the cipher suite");
  reader.end("the ciphertext");
  if (v.length !== hashBytes)
    throw new TimelockError("bad-length", `V is ${v.length} bytes; it must be ${hashBytes}`);
  if (w.length !== hashBytes)
    throw new TimelockError("bad-length", `W is ${w.length} bytes; it must be ${hashBytes}`);
  const suiteText = new TextDecoder().decode(suite);
  if (suiteText !== aesGcmSuite)
    throw new TimelockError(
      "unknown-suite",
      `the cipher suite is ${JSON.stringify(suiteText)} (0x${bytesToHex(suite)}); only ${aesGcmSuite} is used`,
    );
  const inner = new Reader(body);
  const sealed = inner.vec("the AES ciphertext");
  const nonce = inner.vec("the AES nonce");
  inner.end("the body");
  if (nonce.length !== nonceBytes)
    throw new TimelockError(
      "bad-length",
      `the AES-GCM nonce is ${nonce.length} bytes; it must be ${nonceBytes}`,
    );
  if (sealed.length < tagBytes)
    throw new TimelockError(
      "bad-length",
      `the AES-GCM ciphertext is ${sealed.length} bytes, shorter than its ${tagBytes}-byte tag`,
    );
  return { u, v, w, sealed, nonce };
}

/** Serialises a ciphertext in the layout {@link parseTimelockCiphertext} reads. */
export function encodeTimelockCiphertext(ct: TimelockCiphertext): Uint8Array {
  const body = concatBytes(vec(ct.sealed), vec(ct.nonce));
  return concatBytes(ct.u, vec(ct.v), vec(ct.w), vec(body), vec(new TextEncoder().encode(aesGcmSuite)));
}

function vec(bytes: Uint8Array): Uint8Array {
  const length = new Uint8Array(8);
  new DataView(length.buffer).setBigUint64(0, BigInt(bytes.length), true);
  return concatBytes(length, bytes);
}

class Reader {
  private offset = 0;
  private readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  take(n: number, what: string): Uint8Array {
    if (this.offset + n > this.bytes.length)
      throw new TimelockError(
        "truncated",
        `${what} needs ${n} bytes at offset ${this.offset}; only ${this.bytes.length - this.offset} are left`,
      );
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  vec(what: string): Uint8Array {
    const prefix = this.take(8, `the length of ${what}`);
    const length = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
    const left = BigInt(this.bytes.length - this.offset);
    if (length > left)
      throw new TimelockError(
        "truncated",
        `${what} claims ${length} bytes at offset ${this.offset}; only ${left} are left`,
      );
    return this.take(Number(length), what);
  }

  end(what: string): void {
    const left = this.bytes.length - this.offset;
    if (left !== 0) throw new TimelockError("trailing-bytes", `${left} bytes are left over after ${what}`);
  }
}
