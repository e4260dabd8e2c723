import type { bls12_381 } from "@noble/curves/bls12-381.js";

/** An element of GT (the pairing's target group, inside Fp12). */
export type Gt = ReturnType<typeof bls12_381.pairing>;

const fpBytes = 48;

/**
 * arkworks' compressed serialisation of an Fp12 element (what tle hashes as H2(e(...))): the 12
 * base-field coefficients in tower order c0.c0.c0, c0.c0.c1, c0.c1.c0, ..., c1.c2.c1, each the
 * canonical integer in 48 little-endian bytes. 576 bytes.
 */
export function gtBytes(gt: Gt): Uint8Array {
  const out = new Uint8Array(12 * fpBytes);
  let i = 0;
  for (const fp6 of [gt.c0, gt.c1])
    for (const fp2 of [fp6.c0, fp6.c1, fp6.c2])
      for (const coefficient of [fp2.c0, fp2.c1]) {
        let value = coefficient;
        const base = i * fpBytes;
        for (let b = 0; b < fpBytes; b += 1) {
          out[base + b] = Number(value & 0xffn);
          value >>= 8n;
        }
        i += 1;
      }
  return out;
}
