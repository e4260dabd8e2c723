import { describe, expect, it } from "vitest";
import { formatFeeRemark, parseFeeRemark, remarkNames, sealDigest } from "./fee-remark.ts";

const bob = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const alice = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const digest = `sha256:${"ab".repeat(32)}`;

describe("fee remarks", () => {
  it("round-trips the clear and the sealed form", () => {
    const clear = formatFeeRemark(14, bob, digest);
    expect(clear).toBe(`cacheon-fee:1:14:${bob}:${digest}`);
    expect(parseFeeRemark(clear)).toEqual({
      netuid: 14,
      hotkey: bob,
      digest,
      sealed: sealDigest(bob, digest),
    });
    const sealed = formatFeeRemark(14, bob, digest, true);
    expect(sealed).not.toContain("ab".repeat(32));
    expect(parseFeeRemark(sealed)).toEqual({
      netuid: 14,
      hotkey: bob,
      digest: undefined,
      sealed: sealDigest(bob, digest),
    });
  });

  it("names exactly one hotkey, subnet and digest", () => {
    const remark = parseFeeRemark(formatFeeRemark(14, bob, digest, true));
    if (!remark) throw new Error("unparsed");
    expect(remarkNames(remark, 14, bob, digest)).toBe(true);
    expect(remarkNames(remark, 14, alice, digest)).toBe(false);
    expect(remarkNames(remark, 1, bob, digest)).toBe(false);
    expect(remarkNames(remark, 14, bob, `sha256:${"cd".repeat(32)}`)).toBe(false);
  });

  it.each([
    ["another format", `cacheon-fee:2:14:${bob}:${digest}`],
    ["trailing text", `cacheon-fee:1:14:${bob}:${digest} `],
    ["upper-case hex", `cacheon-fee:1:14:${bob}:sha256:${"AB".repeat(32)}`],
    ["short digest", `cacheon-fee:1:14:${bob}:sha256:abcd`],
    ["not an address", `cacheon-fee:1:14:5NotAnAddressAtAllNotAnAddressAtAllNotAnAd:${digest}`],
    ["netuid out of range", `cacheon-fee:1:70000:${bob}:${digest}`],
    [
      "an address of another network",
      `cacheon-fee:1:14:15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5:${digest}`,
    ],
    ["empty", ""],
  ])("refuses %s", (_name, text) => {
    expect(parseFeeRemark(text)).toBeUndefined();
  });

  it("refuses to format a digest that is not sha256:<64 hex>", () => {
    expect(() => formatFeeRemark(14, bob, "sha256:xyz")).toThrow(/is not a sha256/);
  });
});
