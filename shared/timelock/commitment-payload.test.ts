import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { describe, expect, it } from "vitest";
import { decodeCommitmentText, encodeCommitmentText } from "./commitment-payload.ts";

describe("commitment text (SCALE str)", () => {
  it("round-trips and matches SCALE", () => {
    expect(bytesToHex(encodeCommitmentText("ab"))).toBe("086162");
    const long = "x".repeat(300);
    expect(decodeCommitmentText(encodeCommitmentText(long))).toBe(long);
  });

  it.each([
    ["a length that does not cover the rest", "0c6162", /claims 3 bytes but 2 follow/],
    ["extra bytes", "08616263", /claims 2 bytes but 3 follow/],
    ["invalid UTF-8", "04ff", /not UTF-8/],
    ["nothing", "", /empty/],
  ])("refuses %s", (_, hex, message) => {
    expect(() => decodeCommitmentText(hexToBytes(hex))).toThrow(message);
  });

  it("refuses more than 1024 bytes", () => {
    expect(() => encodeCommitmentText("y".repeat(1025))).toThrow(/at most 1024/);
  });
});
