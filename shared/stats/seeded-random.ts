import { createHash } from "node:crypto";
import { CacheonError } from "../errors/cacheon-error.ts";

/** A deterministic random source: the same seed gives the same sequence on every machine. */
export interface SeededRandom {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  /** An exponential variate with the given rate (mean 1 / rate). */
  exponential(rate: number): number;
  /** A Fisher-Yates shuffled copy. */
  shuffle<T>(items: readonly T[]): T[];
}

/** Throws unless `hex` is a non-empty even-length hex string (a round seed, e.g. a block hash). */
export function parseHexSeed(hex: string): Buffer {
  const clean = hex.startsWith("0x") ? hex.slice(2) : hex;
  if (clean.length === 0 || clean.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(clean)) {
    throw new CacheonError(
      "invalid-argument",
      `seed "${hex}" is not hex: give an even number of hex digits, e.g. a block hash like 0x3f9a...`,
    );
  }
  return Buffer.from(clean, "hex");
}

/**
 * A PRNG seeded by sha256(domain, seed): xoshiro128** over the first 16 bytes of the digest.
 * `domain` separates streams drawn from one round seed (prompt order vs arrival times), so one
 * cannot be predicted from the other.
 */
export function seededRandom(hexSeed: string, domain: string): SeededRandom {
  const digest = createHash("sha256").update(domain).update("\0").update(parseHexSeed(hexSeed)).digest();
  let a = digest.readUInt32LE(0);
  let b = digest.readUInt32LE(4);
  let c = digest.readUInt32LE(8);
  let d = digest.readUInt32LE(12);
  if ((a | b | c | d) === 0) a = 1;
  const nextU32 = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result;
  };
  const next = () => nextU32() / 2 ** 32;
  return {
    next,
    int(n) {
      if (!Number.isInteger(n) || n <= 0) throw new RangeError(`int(n) needs a positive integer, got ${n}`);
      return Math.floor(next() * n);
    },
    exponential(rate) {
      if (!(rate > 0)) throw new RangeError(`exponential rate must be > 0, got ${rate}`);
      return -Math.log(1 - next()) / rate;
    },
    shuffle: (items) => fisherYates(items, (n) => Math.floor(next() * n)),
  };
}

/** A Fisher-Yates shuffled copy of `items`, drawing with `int(n)` (an integer in [0, n)). */
export function fisherYates<T>(items: readonly T[], int: (n: number) => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = int(i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
