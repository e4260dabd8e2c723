import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { fisherYates, type SeededRandom } from "../stats/seeded-random.ts";

const encoder = new TextEncoder();

/**
 * A deterministic random stream keyed by a secret: HMAC-SHA256(key, label || 0x00 || counter) in
 * counter mode, eight 32-bit words per block. Unlike {@link SeededRandom}'s xoshiro (whose 128-bit
 * state a few outputs reveal), seeing any number of outputs of one label tells nothing about the
 * key or about another label's stream: a server that sees one prompt cannot predict the next one.
 */
export function keyedRandom(key: Uint8Array, label: string): SeededRandom {
  const prefix = encoder.encode(`${label}\0`);
  const message = new Uint8Array(prefix.length + 4);
  message.set(prefix);
  let counter = 0;
  let block = new DataView(new ArrayBuffer(32));
  let at = 8;
  const nextU32 = (): number => {
    if (at === 8) {
      new DataView(message.buffer).setUint32(prefix.length, counter++);
      const mac = hmac(sha256, key, message);
      block = new DataView(mac.buffer, mac.byteOffset, mac.byteLength);
      at = 0;
    }
    return block.getUint32(4 * at++);
  };
  const next = () => nextU32() / 2 ** 32;
  const int = (n: number): number => {
    if (!Number.isInteger(n) || n <= 0 || n > 2 ** 32) {
      throw new RangeError(`int(n) needs an integer in [1, 2^32], got ${n}`);
    }
    // Rejection sampling: no value is likelier than another, whatever n is.
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const x = nextU32();
      if (x < limit) return x % n;
    }
  };
  return {
    next,
    int,
    exponential(rate) {
      if (!(rate > 0)) throw new RangeError(`exponential rate must be > 0, got ${rate}`);
      return -Math.log(1 - next()) / rate;
    },
    shuffle: (items) => fisherYates(items, int),
  };
}
