import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import { CacheonError } from "../errors/cacheon-error.ts";

/**
 * The canonical encoding of evidence: RFC 8785 (JSON Canonicalization Scheme: keys sorted by
 * UTF-16 code units, ECMAScript number form, no insignificant whitespace), as UTF-8. Two values
 * that mean the same encode to the same bytes, so a sha256 of the bytes names the content.
 *
 * JSON cannot hold everything a hostile server can make the agent record, and RFC 8785 refuses
 * what it cannot hold, so two escapes keep the encoding exact instead of lossy:
 * - a number that is not finite (a logprob of `1e400` parses as Infinity) is written
 *   `{"$number": "NaN" | "Infinity" | "-Infinity"}`;
 * - a string that is not well-formed UTF-16 (a lone surrogate sent as `"\ud800"`) is written
 *   `{"$utf16": [code units]}`.
 * Object keys are the agent's own names (fields, failure codes); one that is not well-formed is
 * made well-formed (U+FFFD) rather than escaped. Negative zero is written 0, as RFC 8785 does.
 */
export const canonicalEncodingName = "RFC 8785 JSON (JCS), UTF-8; sha256 over those bytes";

/** The canonical bytes of a value (see {@link canonicalEncodingName}). Throws on a cycle. */
export function canonicalJsonBytes(value: unknown): Uint8Array {
  const text = canonicalize(escapeValue(value));
  if (text === undefined)
    throw new CacheonError("invalid-argument", "the value has no JSON form (undefined or a function)");
  return Buffer.from(text, "utf8");
}

/** sha256 (lowercase hex) of some bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Parses bytes that must be canonical JSON: refuses invalid UTF-8, invalid JSON, and any byte
 * sequence other than the canonical one for what it parses to (extra spaces, keys out of order,
 * `1.0` for `1`, escaped characters JCS writes plainly, duplicate keys), so one content has one
 * digest and nothing can hide beside it. Undoes the escapes of {@link canonicalJsonBytes}.
 */
export function parseCanonicalJson(bytes: Uint8Array, what = "document"): unknown {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new CacheonError("invalid-argument", `${what} is not valid UTF-8`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new CacheonError("invalid-argument", `${what} is not JSON: ${(error as Error).message}`);
  }
  const again = canonicalize(parsed);
  if (again !== text) {
    throw new CacheonError(
      "invalid-argument",
      `${what} is not in canonical form (${canonicalEncodingName}): ${firstDifference(text, again ?? "")}`,
    );
  }
  return unescapeValue(parsed);
}

/** Where two texts first differ, for the error message. */
function firstDifference(a: string, b: string): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  if (a.length !== b.length && i === Math.min(a.length, b.length))
    return `${a.length} characters where the canonical form has ${b.length}`;
  return `differs at character ${i} (${JSON.stringify(a.slice(i, i + 20))} where the canonical form has ${JSON.stringify(b.slice(i, i + 20))})`;
}

function escapeValue(value: unknown): unknown {
  if (typeof value === "number") {
    if (Number.isFinite(value)) return value;
    return { $number: Number.isNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity" };
  }
  if (typeof value === "string") {
    if (value.isWellFormed()) return value;
    const units: number[] = [];
    for (let i = 0; i < value.length; i++) units.push(value.charCodeAt(i));
    return { $utf16: units };
  }
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return value.map(escapeValue);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      if (v === undefined || typeof v === "function") continue;
      out[key.toWellFormed()] = escapeValue(v);
    }
    return out;
  }
  return value;
}

/** A string from UTF-16 code units, in slices (spreading a long array would overflow the stack). */
function fromCodeUnits(units: readonly number[]): string {
  let text = "";
  for (let i = 0; i < units.length; i += 4096) text += String.fromCharCode(...units.slice(i, i + 4096));
  return text;
}

function unescapeValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unescapeValue);
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value);
  if (entries.length === 1) {
    const [key, inner] = entries[0] as [string, unknown];
    if (key === "$number" && (inner === "NaN" || inner === "Infinity" || inner === "-Infinity"))
      return Number(inner);
    if (
      key === "$utf16" &&
      Array.isArray(inner) &&
      inner.every((u) => Number.isInteger(u) && u >= 0 && u <= 0xffff)
    )
      return fromCodeUnits(inner as number[]);
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of entries) {
    // Never let a parsed key reach an object's prototype.
    Object.defineProperty(out, key, {
      value: unescapeValue(v),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}
