import { describe, expect, it } from "vitest";
import { seededRandom } from "../../test/support/seeded-random.ts";
import { canonicalJsonBytes, parseCanonicalJson, sha256Hex } from "./canonical-json.ts";

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8");

describe("canonicalJsonBytes", () => {
  it("writes RFC 8785's form: sorted keys, shortest numbers, no spaces", () => {
    // The RFC's own number examples (section 3.2.2.3) and key order by UTF-16 code units.
    const value = {
      b: [1e21, 1e-7, 0.000001, -0, Number("333333333.33333329"), 1.0],
      a: "€\u000f",
      "\u00e9": true,
      A: null,
    };
    expect(text(canonicalJsonBytes(value))).toBe(
      '{"A":null,"a":"€\\u000f","b":[1e+21,1e-7,0.000001,0,333333333.3333333,1],"é":true}',
    );
  });

  it("keeps what JSON cannot hold exact: non-finite numbers and lone surrogates round-trip", () => {
    const value = {
      logprob: Number.NEGATIVE_INFINITY,
      nan: Number.NaN,
      up: Number.POSITIVE_INFINITY,
      lone: "a\ud800b",
    };
    const bytes = canonicalJsonBytes(value);
    expect(text(bytes)).toContain('"$number":"-Infinity"');
    expect(text(bytes)).toContain('"$utf16":[97,55296,98]');
    const back = parseCanonicalJson(bytes) as typeof value;
    expect(back.logprob).toBe(Number.NEGATIVE_INFINITY);
    expect(back.nan).toBeNaN();
    expect(back.up).toBe(Number.POSITIVE_INFINITY);
    expect(back.lone).toBe("a\ud800b");
  });

  it("drops undefined fields and writes bigints as decimal strings", () => {
    expect(text(canonicalJsonBytes({ a: undefined, b: 12345678901234567890n }))).toBe(
      '{"b":"12345678901234567890"}',
    );
  });
});

describe("parseCanonicalJson", () => {
  const canonical = canonicalJsonBytes({ a: 1, b: [true, "x"] });

  it("reads canonical bytes back", () => {
    expect(parseCanonicalJson(canonical)).toEqual({ a: 1, b: [true, "x"] });
  });

  it.each([
    ["a space", '{"a": 1,"b":[true,"x"]}'],
    ["keys out of order", '{"b":[true,"x"],"a":1}'],
    ["a number not in shortest form", '{"a":1.0,"b":[true,"x"]}'],
    ["an escape JCS writes plainly", '{"a":1,"b":[true,"\\u0078"]}'],
    ["a duplicate key", '{"a":1,"a":1,"b":[true,"x"]}'],
    ["a trailing newline", '{"a":1,"b":[true,"x"]}\n'],
  ])("refuses %s, naming where it differs", (_name, body) => {
    expect(() => parseCanonicalJson(Buffer.from(body, "utf8"), "bundle")).toThrow(
      /bundle is not in canonical form/,
    );
  });

  it("refuses invalid UTF-8 and invalid JSON", () => {
    expect(() => parseCanonicalJson(Uint8Array.of(0x7b, 0xff, 0x7d))).toThrow(/not valid UTF-8/);
    expect(() => parseCanonicalJson(Buffer.from("{"))).toThrow(/not JSON/);
    expect(() => parseCanonicalJson(Buffer.from('\ufeff{"a":1}'))).toThrow(/not JSON/);
  });

  it("never lets a key reach the prototype", () => {
    const parsed = parseCanonicalJson(Buffer.from('{"__proto__":{"polluted":true}}')) as Record<
      string,
      unknown
    >;
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(parsed)).toEqual(["__proto__"]);
  });
});

describe("canonical round trip (seeded fuzz)", () => {
  it("any value made of JSON parts, odd numbers and odd strings encodes to one form and reads back equal", () => {
    const random = seededRandom(19);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const numbers = [
      0,
      1,
      -1,
      0.1,
      1e-300,
      1e300,
      5e-324,
      Number.MAX_SAFE_INTEGER,
      -0.000123,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
    ];
    const strings = [
      "",
      "a",
      "é",
      "€",
      "\u0000",
      "\ud83d\ude00",
      "\ud800",
      "\udc00x",
      '"\\/',
      "line\nbreak",
      "token_id:151645",
    ];
    const make = (depth: number): unknown => {
      const r = random();
      if (depth > 3 || r < 0.3) return pick(numbers) * (random() < 0.5 ? 1 : random());
      if (r < 0.5) return pick(strings) + pick(strings);
      if (r < 0.55) return pick([true, false, null]);
      if (r < 0.75) return Array.from({ length: Math.floor(random() * 4) }, () => make(depth + 1));
      const object: Record<string, unknown> = {};
      for (let i = 0; i < random() * 4; i++)
        object[pick(["a", "b", "é", "B", "10", "2", "$x"]) + i] = make(depth + 1);
      return object;
    };
    for (let i = 0; i < 300; i++) {
      const value = make(0);
      const bytes = canonicalJsonBytes(value);
      const back = parseCanonicalJson(bytes);
      // Equal as values (NaN equals NaN here; -0 is written 0)...
      expect(sameValue(back, value)).toBe(true);
      // ...and one content has one encoding, hence one digest.
      expect(sha256Hex(canonicalJsonBytes(back))).toBe(sha256Hex(bytes));
    }
  });
});

/** Deep equality where NaN equals NaN and -0 equals 0 (what the encoding promises). */
function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a === "number" && typeof b === "number") return (Number.isNaN(a) && Number.isNaN(b)) || a === b;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  if (a && b && typeof a === "object" && typeof b === "object") {
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    return (
      ka.length === kb.length &&
      ka.every(
        (k, i) =>
          k === kb[i] && sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
      )
    );
  }
  return a === b;
}
