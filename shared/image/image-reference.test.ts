import { describe, expect, it } from "vitest";
import {
  formatImageReference,
  parseImageReference,
  pullReference,
  repoDigestName,
  tryParseImageReference,
} from "./image-reference.ts";

const hex = "a".repeat(64);
const digest = `sha256:${hex}`;

describe("parseImageReference", () => {
  it.each([
    [`nginx@${digest}`, "docker.io", "library/nginx", ""],
    [`nginx:1.27@${digest}`, "docker.io", "library/nginx", "1.27"],
    [`miner/server@${digest}`, "docker.io", "miner/server", ""],
    [`index.docker.io/miner/server@${digest}`, "docker.io", "miner/server", ""],
    [`docker.io/library/nginx@${digest}`, "docker.io", "library/nginx", ""],
    [`127.0.0.1:5000/sim/llm:fast@${digest}`, "127.0.0.1:5000", "sim/llm", "fast"],
    [`localhost/a/b/c@${digest}`, "localhost", "a/b/c", ""],
    [`ghcr.io/org/a_b.c-d__e@${digest}`, "ghcr.io", "org/a_b.c-d__e", ""],
    [`[::1]:5000/x@${digest}`, "[::1]:5000", "x", ""],
  ])("parses %s", (text, registry, repository, tag) => {
    expect(parseImageReference(text)).toEqual({ registry, repository, digest, tag });
  });

  it("round-trips through the canonical form", () => {
    for (const text of [
      `nginx:1@${digest}`,
      `127.0.0.1:5000/sim/llm@${digest}`,
      `ghcr.io/a/b:v1.2@${digest}`,
    ]) {
      const image = parseImageReference(text);
      const canonical = formatImageReference(image);
      expect(parseImageReference(canonical)).toEqual(image);
      expect(formatImageReference(parseImageReference(canonical))).toBe(canonical);
    }
  });

  it("pulls by digest only and names the RepoDigests repository as Docker does", () => {
    const image = parseImageReference(`nginx:latest@${digest}`);
    expect(pullReference(image)).toBe(`docker.io/library/nginx@${digest}`);
    expect(repoDigestName(image)).toBe("nginx");
    expect(repoDigestName(parseImageReference(`127.0.0.1:5000/a/b@${digest}`))).toBe("127.0.0.1:5000/a/b");
  });

  it.each([
    ["", /empty/],
    ["nginx:latest", /no digest.*tags can be moved/],
    ["nginx", /no digest/],
    [`nginx @${digest}`, /whitespace/],
    [` nginx@${digest}`, /whitespace/],
    [`nginx@${digest}\n`, /whitespace or a control character/],
    [`ngіnx@${digest}`, /non-ASCII character "і"/], // Cyrillic i
    [`nginx＠${digest}`, /non-ASCII/], // fullwidth at
    [`nginx@sha256:${"a".repeat(63)}`, /63 hex digits; sha256 has exactly 64/],
    [`nginx@sha256:${"a".repeat(65)}`, /65 hex digits/],
    [`nginx@sha256:${"A".repeat(64)}`, /lowercase hex/],
    [`nginx@sha256:${"g".repeat(64)}`, /other than hex/],
    [`nginx@sha512:${hex}`, /must start with "sha256:"/],
    [`nginx@${digest}@${digest}`, /more than one "@"/],
    [`../../etc/passwd@${digest}`, /path component ".." is not allowed/],
    [`a/../b@${digest}`, /".." is not allowed/],
    [`Nginx@${digest}`, /not valid/],
    [`a//b@${digest}`, /path component "" is not valid/],
    [`a/b:-bad@${digest}`, /tag "-bad" is not valid/],
    [`a/b:${"t".repeat(129)}@${digest}`, /tag/],
    [`${"a".repeat(256)}@${digest}`, /256 characters; the limit is 255/],
    [`example.com:99999/a@${digest}`, /port "99999"/],
    [`exa_mple.com/a@${digest}`, /not a valid host name/],
    [`@${digest}`, /empty/],
  ])("refuses %j", (text, why) => {
    const result = tryParseImageReference(text);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatch(why);
    expect(() => parseImageReference(text)).toThrow(why);
  });

  it("accepts a name of exactly 255 characters", () => {
    const name = `a/${"b".repeat(253)}`;
    expect(parseImageReference(`${name}@${digest}`).repository).toBe(name);
  });
});
