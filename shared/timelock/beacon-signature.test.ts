import { hexToBytes } from "@noble/hashes/utils.js";
import { describe, expect, it } from "vitest";
import { quicknetSignatures } from "../../test/fixtures/drand/known-answers.ts";
import { quicknet, roundAt, roundTime } from "./beacon-info.ts";
import { assertBeaconSignature, verifyBeaconSignature } from "./beacon-signature.ts";
import { TimelockError } from "./timelock-error.ts";

const sig1000 = hexToBytes(quicknetSignatures[1000]);
const sig2000 = hexToBytes(quicknetSignatures[2000]);

describe("verifyBeaconSignature (BLS, drand quicknet)", () => {
  it("accepts quicknet's real signatures of rounds 1000 and 2000 against its public key", () => {
    expect(verifyBeaconSignature(quicknet, 1000, sig1000)).toBe(true);
    expect(verifyBeaconSignature(quicknet, 2000, sig2000)).toBe(true);
  });

  it("refuses a real signature presented for another round (a forged pulse)", () => {
    expect(verifyBeaconSignature(quicknet, 2000, sig1000)).toBe(false);
    expect(verifyBeaconSignature(quicknet, 1001, sig1000)).toBe(false);
    expect(() => assertBeaconSignature(quicknet, 1001, sig1000)).toThrow(
      /not the beacon's signature of round 1001/,
    );
  });

  it("refuses garbage, truncation and a wrong public key without throwing", () => {
    const garbage = sig1000.slice();
    garbage[47] = (garbage[47] ?? 0) ^ 0xff;
    expect(verifyBeaconSignature(quicknet, 1000, garbage)).toBe(false);
    expect(verifyBeaconSignature(quicknet, 1000, sig1000.subarray(1))).toBe(false);
    const wrongKey = { ...quicknet, publicKey: quicknet.publicKey.slice(0, 95) };
    expect(verifyBeaconSignature(wrongKey, 1000, sig1000)).toBe(false);
    expect(() => assertBeaconSignature(quicknet, 1000, sig1000.subarray(1))).toThrow(TimelockError);
  });
});

describe("beacon clock", () => {
  it("round 1 is out at genesis, round n at genesis + (n-1) * period", () => {
    expect(roundAt(quicknet, quicknet.genesisSeconds - 1)).toBe(0);
    expect(roundAt(quicknet, quicknet.genesisSeconds)).toBe(1);
    expect(roundAt(quicknet, quicknet.genesisSeconds + 2.9)).toBe(1);
    expect(roundAt(quicknet, quicknet.genesisSeconds + 3)).toBe(2);
    expect(roundTime(quicknet, 1000)).toBe(quicknet.genesisSeconds + 2997);
    expect(roundAt(quicknet, roundTime(quicknet, 123456))).toBe(123456);
  });
});
