import { describe, expect, it } from "vitest";
import { CacheonError } from "../errors/cacheon-error.ts";
import { newPromptSecret, parsePromptSecret, promptKey } from "./prompt-key.ts";

describe("parsePromptSecret", () => {
  it("accepts hex of at least 128 bits, with or without 0x", () => {
    expect(parsePromptSecret("00".repeat(16))).toHaveLength(16);
    expect(parsePromptSecret(`0x${"ab".repeat(32)}`)).toHaveLength(32);
    expect(parsePromptSecret(newPromptSecret())).toHaveLength(32);
  });

  it.each([
    ["", /is not set/],
    ["   ", /is not set/],
    ["ab".repeat(15), /has 120 bits; at least 128/],
    ["correct horse battery staple, long enough", /must be hex/],
    ["abc", /must be hex/],
  ])("refuses %j with a message that says how to make one", (text, message) => {
    expect(() => parsePromptSecret(text)).toThrow(CacheonError);
    expect(() => parsePromptSecret(text)).toThrow(message);
    expect(() => parsePromptSecret(text)).toThrow(/--new-secret/);
  });
});

describe("promptKey", () => {
  const secret = parsePromptSecret("11".repeat(32));

  it("depends on both the secret and the seed", () => {
    const a = promptKey(secret, "aa");
    expect(a).toHaveLength(32);
    expect(promptKey(secret, "aa")).toEqual(a);
    expect(promptKey(secret, "ab")).not.toEqual(a);
    expect(promptKey(parsePromptSecret("12".repeat(32)), "aa")).not.toEqual(a);
  });

  it("refuses a short secret", () => {
    expect(() => promptKey(new Uint8Array(8), "aa")).toThrow(/128 bits/);
  });

  it("makes a fresh secret each time", () => {
    expect(newPromptSecret()).toMatch(/^[0-9a-f]{64}$/);
    expect(newPromptSecret()).not.toBe(newPromptSecret());
  });
});
