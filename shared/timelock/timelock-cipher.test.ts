import { bls12_381 } from "@noble/curves/bls12-381.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { describe, expect, it } from "vitest";
import { quicknetSignatures, rustSealedRound1000 } from "../../test/fixtures/drand/known-answers.ts";
import { type BeaconInfo, quicknet, quicknetDst } from "./beacon-info.ts";
import { timelockDecrypt, timelockEncrypt } from "./timelock-cipher.ts";
import {
  ciphertextOverhead,
  encodeTimelockCiphertext,
  parseTimelockCiphertext,
} from "./timelock-ciphertext.ts";
import { TimelockError } from "./timelock-error.ts";

const sig1000 = hexToBytes(quicknetSignatures[1000]);
const sig2000 = hexToBytes(quicknetSignatures[2000]);
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const utf8 = (s: string) => new TextEncoder().encode(s);

function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof TimelockError) return error.failure;
    throw error;
  }
  throw new Error("expected a TimelockError");
}

describe("timelock encryption (tle / bittensor-drand compatible)", () => {
  it("opens a ciphertext the Rust tle sealed to quicknet round 1000 with the real round-1000 signature", () => {
    const opened = timelockDecrypt(hexToBytes(rustSealedRound1000.ciphertext), sig1000);
    expect(text(opened)).toBe(rustSealedRound1000.plaintext);
  });

  it("refuses round 2000's signature for the Rust ciphertext", () => {
    expect(failure(() => timelockDecrypt(hexToBytes(rustSealedRound1000.ciphertext), sig2000))).toBe(
      "wrong-signature",
    );
  });

  it("seals to quicknet round 1000 and opens with the real signature; round 2000's is refused", () => {
    const sealed = timelockEncrypt(utf8("weights for round 1000"), 1000, quicknet);
    expect(sealed.length).toBe(utf8("weights for round 1000").length + ciphertextOverhead);
    expect(text(timelockDecrypt(sealed, sig1000))).toBe("weights for round 1000");
    expect(failure(() => timelockDecrypt(sealed, sig2000))).toBe("wrong-signature");
  });

  it("is deterministic given its randomness, and fresh randomness gives a fresh ciphertext", () => {
    let n = 0;
    const counter = (length: number) => sha256(new Uint8Array([n++])).slice(0, length);
    n = 0;
    const a = timelockEncrypt(utf8("x"), 1000, quicknet, { random: counter });
    n = 0;
    const b = timelockEncrypt(utf8("x"), 1000, quicknet, { random: counter });
    expect(bytesToHex(a)).toBe(bytesToHex(b));
    expect(bytesToHex(timelockEncrypt(utf8("x"), 1000, quicknet))).not.toBe(bytesToHex(a));
  });

  it("a key of another beacon cannot open it, and its own does", () => {
    const secret = bls12_381.utils.randomSecretKey();
    const other: BeaconInfo = {
      publicKey: bls12_381.shortSignatures.getPublicKey(secret).toBytes(true),
      genesisSeconds: 0,
      periodSeconds: 3,
      dst: quicknetDst,
    };
    const sealed = timelockEncrypt(utf8("devnet"), 7, other);
    const own = bls12_381.shortSignatures.sign(
      bls12_381.shortSignatures.hash(sha256(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 7])), quicknetDst),
      secret,
    );
    expect(text(timelockDecrypt(sealed, own.toBytes(true)))).toBe("devnet");
    expect(failure(() => timelockDecrypt(sealed, sig1000))).toBe("wrong-signature");
  });

  describe("tampering is caught (think like a miner replaying or editing a ciphertext)", () => {
    const sealed = timelockEncrypt(utf8("honest digest"), 1000, quicknet);
    const parts = parseTimelockCiphertext(sealed);
    const flip = (bytes: Uint8Array, i: number) => {
      const copy = bytes.slice();
      copy[i] = (copy[i] ?? 0) ^ 1;
      return copy;
    };
    it.each([
      ["V", { ...parts, v: flip(parts.v, 0) }, "wrong-signature"],
      ["W", { ...parts, w: flip(parts.w, 31) }, "wrong-signature"],
      ["the AES ciphertext", { ...parts, sealed: flip(parts.sealed, 0) }, "corrupt-body"],
      ["the tag", { ...parts, sealed: flip(parts.sealed, parts.sealed.length - 1) }, "corrupt-body"],
      ["the nonce", { ...parts, nonce: flip(parts.nonce, 0) }, "corrupt-body"],
    ])("a flipped bit in %s", (_, tampered, reason) => {
      expect(failure(() => timelockDecrypt(encodeTimelockCiphertext(tampered), sig1000))).toBe(reason);
    });

    it("a U that is not a G2 point is refused before any pairing", () => {
      const badU = parts.u.slice();
      badU[95] = (badU[95] ?? 0) ^ 0xff;
      expect(failure(() => timelockDecrypt(encodeTimelockCiphertext({ ...parts, u: badU }), sig1000))).toBe(
        "bad-point",
      );
    });

    it("U at infinity and a signature at infinity are refused", () => {
      const infinity = new Uint8Array(96);
      infinity[0] = 0xc0;
      expect(
        failure(() => timelockDecrypt(encodeTimelockCiphertext({ ...parts, u: infinity }), sig1000)),
      ).toBe("bad-point");
      const sigInfinity = new Uint8Array(48);
      sigInfinity[0] = 0xc0;
      expect(failure(() => timelockDecrypt(sealed, sigInfinity))).toBe("bad-point");
    });

    it("a signature of the wrong length is refused", () => {
      expect(failure(() => timelockDecrypt(sealed, sig1000.subarray(0, 47)))).toBe("bad-length");
    });
  });
});
