import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { seededRandom } from "../../test/support/seeded-random.ts";
import { CacheonError } from "../errors/cacheon-error.ts";
import type { ConfigSchema, FieldSpec } from "./config-schema.ts";
import { loadConfig } from "./load-config.ts";

// Hostile and random configuration: whatever a file, the environment or flags hold, loading
// either returns values of the declared types or throws one CacheonError("invalid-config")
// naming every problem; it never throws anything else and never writes to a prototype.

const schema: ConfigSchema = {
  "server.listen": { type: "string", doc: "", default: "127.0.0.1:7000", flag: "listen" },
  "server.maxAgents": { type: "integer", doc: "", default: 8, min: 1, max: 1024 },
  "server.ratio": { type: "number", doc: "", default: 0.5, min: 0, max: 1 },
  "log.format": { type: "string", doc: "", values: ["json", "pretty"], default: "json" },
  "chain.endpoints": { type: "string-list", doc: "", default: ["ws://127.0.0.1:9944"], flag: "chain" },
  "tls.enabled": { type: "boolean", doc: "", default: false, flag: "tls" },
  "a.b.c": { type: "string", doc: "", default: "" },
};

const prototypeNames = [
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "valueOf",
  "hasOwnProperty",
  "isPrototypeOf",
  "__defineGetter__",
  "__lookupGetter__",
  "toLocaleString",
];

const dir = mkdtempSync(join(tmpdir(), "cfg-fuzz-"));
let files = 0;
function file(ext: "json" | "yaml", text: string): string {
  const path = join(dir, `${files++}.${ext}`);
  writeFileSync(path, text);
  return path;
}

function load(options: Partial<Parameters<typeof loadConfig>[0]>): {
  values?: Record<string, unknown>;
  error?: CacheonError;
} {
  try {
    return { values: loadConfig({ schema, envPrefix: "T_", env: {}, ...options }).values };
  } catch (error) {
    // Anything but a CacheonError("invalid-config") fails the test here, with the input in view.
    expect(error).toBeInstanceOf(CacheonError);
    expect((error as CacheonError).code).toBe("invalid-config");
    return { error: error as CacheonError };
  }
}

function problemsOf(error: CacheonError | undefined): string[] {
  const message = error?.message ?? "";
  const lines = message.split("\n").slice(1);
  const count = /has (\d+) problem/.exec(message)?.[1];
  expect(Number(count)).toBe(lines.length);
  return lines.map((l) => l.replace(/^ {2}- /, ""));
}

/** An independent check of a loaded value against its field. */
function fits(spec: FieldSpec, value: unknown): boolean {
  switch (spec.type) {
    case "string":
      return typeof value === "string" && (!spec.values || spec.values.includes(value));
    case "number":
    case "integer":
      return (
        typeof value === "number" &&
        Number.isFinite(value) &&
        (spec.type === "number" || Number.isInteger(value)) &&
        (spec.min === undefined || value >= spec.min) &&
        (spec.max === undefined || value <= spec.max)
      );
    case "boolean":
      return typeof value === "boolean";
    case "string-list":
      return Array.isArray(value) && value.every((v) => typeof v === "string");
  }
}

function assertClean(): void {
  const probe: Record<string, unknown> = {};
  for (const name of ["polluted", "x", "a", "b", "c", "listen"]) expect(probe[name]).toBeUndefined();
  expect(Object.keys(Object.prototype)).toEqual([]);
  expect(typeof Object.prototype.toString).toBe("function");
}

describe("loadConfig with hostile keys", () => {
  for (const name of prototypeNames) {
    it(`names "${name}" as an unknown key at the top, in a section and dotted, in JSON and YAML`, () => {
      const documents = [
        `{"${name}": 1}`,
        `{"${name}": {"polluted": true}}`,
        `{"server": {"${name}": "x"}}`,
        `{"server.${name}": "x"}`,
        `{"a": {"b": {"${name}": {"x": 1}}}}`,
      ];
      for (const json of documents) {
        for (const path of [file("json", json), file("yaml", stringify(JSON.parse(json)))]) {
          const { error } = load({ file: path });
          const problems = problemsOf(error);
          expect(problems, json).toHaveLength(1);
          expect(problems[0]).toMatch(new RegExp(`unknown key ".*${name.replace(/\$/g, "\\$")}`));
          assertClean();
        }
      }
    });
  }

  it("reads a prototype name in the environment or flags as nothing (only declared names are read)", () => {
    const env = Object.fromEntries(prototypeNames.map((n) => [`T_${n.toUpperCase()}`, "x"]));
    const flags = Object.fromEntries(prototypeNames.map((n) => [n, "x"]));
    const { values } = load({ env, flags });
    expect(values?.["server.listen"]).toBe("127.0.0.1:7000");
    assertClean();
  });

  it("reads a YAML __proto__ key as data, and a YAML alias bomb as a clear error", () => {
    const yaml = "__proto__:\n  polluted: 1\nserver:\n  __proto__:\n    listen: x\n";
    const problems = problemsOf(load({ file: file("yaml", yaml) }).error);
    expect(problems).toEqual([
      expect.stringMatching(/unknown key "server.__proto__"/),
      expect.stringMatching(/unknown key "__proto__"/),
    ]);
    const bomb = `a: &a ["x","x","x","x","x","x","x","x","x"]\n${Array.from({ length: 9 }, (_, i) => `${"bcdefghij"[i]}: &${"bcdefghij"[i]} [${Array(9).fill(`*${"abcdefghi"[i]}`).join(",")}]`).join("\n")}\n`;
    expect(load({ file: file("yaml", bomb) }).error?.message).toMatch(/not valid YAML\/JSON/);
    assertClean();
  });

  it("names every problem at once, however many", () => {
    const doc = {
      server: { listen: 5, maxAgents: 0, ratio: "lots", constructor: 1 },
      log: { format: "xml" },
      chain: { endpoints: [1, "ws://x"] },
      tls: { enabled: "maybe" },
      toString: 1,
      "a.b": { c: { deep: 1 } },
    };
    const problems = problemsOf(load({ file: file("json", JSON.stringify(doc)) }).error);
    expect(problems).toHaveLength(9);
    for (const expected of [
      /server.listen: expected a string, got number 5/,
      /server.maxAgents: 0 is below the minimum 1/,
      /server.ratio: expected a number, got string "lots"/,
      /unknown key "server.constructor"/,
      /log.format: "xml" is not one of "json", "pretty"/,
      /chain.endpoints: expected a list of strings/,
      /tls.enabled: expected true or false, got string "maybe"/,
      /unknown key "toString"/,
      /a.b.c: expected a string, got a mapping/,
    ])
      expect(
        problems.some((p) => expected.test(p)),
        String(expected),
      ).toBe(true);
  });

  it("refuses a key given twice, dotted and nested", () => {
    const problems = problemsOf(
      load({ file: file("json", JSON.stringify({ "server.listen": "a", server: { listen: "b" } })) }).error,
    );
    expect(problems).toEqual([expect.stringMatching(/"server.listen" is given twice/)]);
  });
});

describe("loadConfig on random documents", () => {
  const keys = Object.keys(schema);
  const sections = ["server", "log", "chain", "tls", "a", "a.b"];
  const junkKeys = [...prototypeNames, "", ".", "a..b", "x", "server.", "é", "0", "null", "listen"];
  const value = (r: () => number, depth: number): unknown => {
    const pick = Math.floor(r() * 12);
    switch (pick) {
      case 0:
        return Math.floor(r() * 2000) - 500;
      case 1:
        return r() * 3 - 1;
      case 2:
        return ["json", "pretty", "xml", "", "yes", "off", "12", " 7 ", "1e3", "NaN", "Infinity"][
          Math.floor(r() * 11)
        ];
      case 3:
        return r() < 0.5;
      case 4:
        return null;
      case 5:
        return ["ws://a", "ws://b"].slice(0, Math.floor(r() * 3));
      case 6:
        return [1, "x", null, { a: 1 }].slice(0, 1 + Math.floor(r() * 4));
      case 7:
      case 8:
        return depth > 3 ? "leaf" : mapping(r, depth + 1);
      case 9:
        return "ws://a, ws://b,,";
      case 10:
        return Number.MAX_SAFE_INTEGER * 4;
      default:
        return "x".repeat(Math.floor(r() * 5));
    }
  };
  const mapping = (r: () => number, depth: number): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    const n = Math.floor(r() * 5);
    for (let i = 0; i < n; i += 1) {
      const source = r();
      const key =
        source < 0.45
          ? (keys[Math.floor(r() * keys.length)] as string)
          : source < 0.7
            ? (sections[Math.floor(r() * sections.length)] as string)
            : (junkKeys[Math.floor(r() * junkKeys.length)] as string);
      // defineProperty: an own "__proto__" key, as JSON.parse makes.
      Object.defineProperty(out, key, { value: value(r, depth), enumerable: true, writable: true });
    }
    return out;
  };

  it("returns typed values or names its problems, for 1500 seeded documents", () => {
    let accepted = 0;
    for (let seed = 1; seed <= 1500; seed += 1) {
      const r = seededRandom(seed);
      const doc = mapping(r, 0);
      const text = JSON.stringify(doc);
      const path = file(seed % 2 ? "json" : "yaml", seed % 2 ? text : stringify(JSON.parse(text)));
      const { values, error } = load({ file: path });
      if (values) {
        accepted += 1;
        for (const [key, spec] of Object.entries(schema))
          expect(fits(spec, values[key]), `seed ${seed}: ${key} = ${JSON.stringify(values[key])}`).toBe(true);
        expect(Object.keys(values).sort()).toEqual([...keys].sort());
      } else {
        expect(problemsOf(error).length, `seed ${seed}: ${text}`).toBeGreaterThan(0);
      }
    }
    assertClean();
    // Both branches were exercised: some random documents are valid, most are not.
    expect(accepted).toBeGreaterThan(20);
    expect(accepted).toBeLessThan(1500);
  });

  it("keeps every valid value it is given (round trip through JSON and YAML)", () => {
    for (let seed = 1; seed <= 300; seed += 1) {
      const r = seededRandom(seed);
      const chosen: Record<string, unknown> = {
        "server.listen": `h${seed}:${Math.floor(r() * 65535)}`,
        "server.maxAgents": 1 + Math.floor(r() * 1024),
        "server.ratio": r(),
        "log.format": r() < 0.5 ? "json" : "pretty",
        "chain.endpoints": [`ws://n${seed}`, "wss://m"].slice(0, 1 + Math.floor(r() * 2)),
        "tls.enabled": r() < 0.5,
        "a.b.c": `c${seed}`,
      };
      // Half dotted, half nested.
      const doc: Record<string, unknown> = {};
      for (const [key, v] of Object.entries(chosen)) {
        if (r() < 0.5) doc[key] = v;
        else {
          const parts = key.split(".");
          let node = doc;
          for (const p of parts.slice(0, -1)) {
            node[p] ??= {};
            node = node[p] as Record<string, unknown>;
          }
          node[parts.at(-1) as string] = v;
        }
      }
      const text = JSON.stringify(doc);
      const path = file(seed % 2 ? "json" : "yaml", seed % 2 ? text : stringify(doc));
      const { values, error } = load({ file: path });
      expect(error?.message, `seed ${seed}: ${text}`).toBeUndefined();
      expect(values).toEqual(chosen);
    }
  });

  it("converts or refuses any string from the environment and flags", () => {
    const strings = [
      "",
      " ",
      "0",
      "1",
      "-1",
      "1.5",
      "1e400",
      "0x10",
      "yes",
      "off",
      "maybe",
      "a,b",
      ",",
      "ws://a",
    ];
    for (const s of strings) {
      for (const key of keys) {
        const name = `T_${key
          .replace(/[.]/g, "_")
          .replace(/([a-z])([A-Z])/g, "$1_$2")
          .toUpperCase()}`;
        const { values, error } = load({ env: { [name]: s } });
        const spec = schema[key] as FieldSpec;
        if (values) expect(fits(spec, values[key]), `${name}=${JSON.stringify(s)}`).toBe(true);
        else expect(problemsOf(error)).toEqual([expect.stringContaining(name)]);
      }
    }
  });
});
