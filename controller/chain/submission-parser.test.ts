import { describe, expect, it } from "vitest";
import { type CommitmentField, parseSubmission } from "./submission-parser.ts";

const digest = `sha256:${"0123456789abcdef".repeat(4)}`;
const raw = (text: string | Uint8Array): CommitmentField => {
  const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
  return { variant: bytes.length <= 128 ? `Raw${bytes.length}` : "BigRaw", bytes };
};
const reason = (fields: CommitmentField[]) => {
  const result = parseSubmission(fields);
  if (result.ok) throw new Error(`accepted ${JSON.stringify(result)}`);
  return result.reason;
};

describe("parseSubmission", () => {
  it("accepts the JSON form and the compact form, normalised to one canonical reference", () => {
    expect(parseSubmission([raw(JSON.stringify({ image: "ghcr.io/me/fast:v2", digest }))])).toEqual({
      ok: true,
      form: "json",
      reference: `ghcr.io/me/fast:v2@${digest}`,
      image: { registry: "ghcr.io", repository: "me/fast", digest, tag: "v2" },
    });
    expect(parseSubmission([raw(`nginx@${digest}`)])).toMatchObject({
      ok: true,
      form: "compact",
      reference: `docker.io/library/nginx@${digest}`,
    });
    expect(
      parseSubmission([{ variant: "BigRaw", bytes: new TextEncoder().encode(`a/b@${digest}`) }]).ok,
    ).toBe(true);
  });

  // Each hostile payload is refused with a reason naming the problem; none throws.
  const hostile: [string, CommitmentField[], RegExp][] = [
    ["oversized", [{ variant: "BigRaw", bytes: new Uint8Array(513).fill(0x61) }], /513 bytes; at most 512/],
    ["not UTF-8", [raw(new Uint8Array([0x61, 0xff, 0xfe, 0x40]))], /not UTF-8/],
    ["bad JSON", [raw(`{"image": "a/b", "digest": "${digest}"`)], /not valid JSON/],
    ["JSON that is not an object", [raw("{}")], /needs "image"/],
    ["a tag without a digest (compact)", [raw("ghcr.io/me/fast:latest")], /has no digest/],
    ["a tag without a digest (JSON)", [raw(JSON.stringify({ image: "me/fast:latest" }))], /needs "digest"/],
    ["a short digest", [raw(`me/fast@sha256:${"a".repeat(63)}`)], /63 hex digits; sha256 has exactly 64/],
    [
      "a long digest",
      [raw(JSON.stringify({ image: "me/fast", digest: `sha256:${"a".repeat(65)}` }))],
      /65 hex digits/,
    ],
    [
      "a digest of another algorithm",
      [raw(`me/fast@sha512:${"a".repeat(128)}`)],
      /must start with "sha256:"/,
    ],
    [
      "unknown fields",
      [raw(JSON.stringify({ image: "me/fast", digest, note: "hi" }))],
      /unknown fields \(note\)/,
    ],
    [
      "a digest in both places",
      [raw(JSON.stringify({ image: `me/fast@${digest}`, digest }))],
      /must not contain a digest/,
    ],
    ["several fields", [raw(`a/b@${digest}`), raw(`c/d@${digest}`)], /has 2 fields/],
    ["no fields", [], /no fields/],
    ["a hash field", [{ variant: "Sha256", bytes: new Uint8Array() }], /is Sha256/],
    [
      "a timelocked field",
      [{ variant: "TimelockEncrypted", bytes: new Uint8Array() }],
      /is TimelockEncrypted/,
    ],
    ["a look-alike character", [raw(`me/fаst@${digest}`)], /non-ASCII character/],
    ["path traversal", [raw(`me/../etc@${digest}`)], /"\.\." is not allowed/],
    ["an empty payload", [raw("")], /empty/],
    ["JSON null (read as a compact reference)", [raw("null")], /has no digest/],
    ["image of the wrong type", [raw(JSON.stringify({ image: 5, digest }))], /needs "image"/],
  ];
  for (const [name, fields, expected] of hostile) {
    it(`refuses ${name}`, () => {
      expect(reason(fields)).toMatch(expected);
    });
  }
});
