import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { describe, expect, it } from "vitest";
import { TimelockError } from "./timelock-error.ts";
import { decodeWeightsPayload, encodeWeightsPayload } from "./weights-payload.ts";

describe("weights payload (SCALE WeightsTlockPayload)", () => {
  const example = { hotkey: new Uint8Array([1, 2, 3]), uids: [1, 2], values: [11, 22], versionKey: 50n };

  it("encodes the bittensor-drand example byte for byte", () => {
    expect(bytesToHex(encodeWeightsPayload(example))).toBe("0c0102030801000200080b0016003200000000000000");
  });

  it("decodes what it encodes, with a 32-byte hotkey and a large version key", () => {
    const payload = {
      hotkey: new Uint8Array(32).fill(7),
      uids: [0, 5, 65535],
      values: [65535, 1, 0],
      versionKey: 2n ** 64n - 1n,
    };
    expect(decodeWeightsPayload(encodeWeightsPayload(payload))).toEqual(payload);
  });

  it.each([
    ["a trailing byte", "0c0102030801000200080b001600320000000000000000", /1 bytes follow/],
    ["a cut version key", "0c0102030801000200080b00160032000000", /ends inside the version key/],
    ["a length beyond the input", "fc01", /claims more items/],
    ["nothing", "", /ends before the hotkey/],
  ])("refuses %s", (_, hex, message) => {
    expect(() => decodeWeightsPayload(hexToBytes(hex))).toThrow(message);
  });

  it("refuses unpaired uids and values, and values beyond u16", () => {
    expect(() => encodeWeightsPayload({ ...example, values: [1] })).toThrow(TimelockError);
    expect(() => encodeWeightsPayload({ ...example, values: [1, 65536] })).toThrow(/not a u16/);
  });
});
