import * as z from "zod";
import { CacheonError } from "../errors/cacheon-error.ts";
import type { ConfigSchema, FieldSpec } from "./config-schema.ts";

/** A compiled {@link ConfigSchema}: checks a config file's document and single raw values. */
export interface ConfigValidator {
  /**
   * Checks a parsed config file (nested mappings, or dotted keys at any level) against the
   * schema: every problem at once, unknown keys (prototype names included) named with a
   * suggestion. Returns the typed values by dotted key when there is no problem.
   */
  checkDocument(document: Record<string, unknown>): { values: Map<string, unknown>; problems: string[] };
  /** Checks one raw value (a string from the environment, a flag) for `key`. */
  checkValue(key: string, raw: unknown): { value: unknown } | { problem: string };
}

// Compiling walks the whole schema; loaders call it on every load, so keep one per schema.
const compiled = new WeakMap<ConfigSchema, ConfigValidator>();

/**
 * Compiles a schema into zod validators: each field into a leaf that converts the text forms
 * (environment, flags, quoted YAML) and checks type, bounds and allowed values; the file's shape
 * into strict objects, so a key the schema does not declare (`toString`, `__proto__`, a typo)
 * is reported, never looked up on a prototype.
 */
export function configValidator(schema: ConfigSchema): ConfigValidator {
  const known = compiled.get(schema);
  if (known) return known;
  const fields = new Map<string, { spec: FieldSpec; leaf: z.ZodType }>();
  for (const [key, spec] of Object.entries(schema)) fields.set(key, { spec, leaf: fieldValidator(spec) });
  const documentSchema = objectSchema(tree([...fields.keys()]), "", fields);
  const validator: ConfigValidator = {
    checkDocument(document) {
      const problems: string[] = [];
      const nested = expandDottedKeys(document, "", problems);
      const result = documentSchema.safeParse(nested);
      const values = new Map<string, unknown>();
      if (result.success) flattenInto(result.data as Record<string, unknown>, "", values);
      else for (const issue of result.error.issues) problems.push(...describeIssue(issue, nested, fields));
      return { values, problems };
    },
    checkValue(key, raw) {
      const field = fields.get(key);
      if (!field) return { problem: `unknown key "${key}"` };
      const result = field.leaf.safeParse(raw);
      if (result.success) return { value: result.data };
      return { problem: leafMessage(result.error.issues[0], field.spec, raw) };
    },
  };
  compiled.set(schema, validator);
  return validator;
}

/** The zod leaf of one field: text forms converted first, then the declared checks. */
function fieldValidator(spec: FieldSpec): z.ZodType {
  switch (spec.type) {
    case "string":
      return spec.values && spec.values.length > 0
        ? z.enum(spec.values as [string, ...string[]])
        : z.string();
    case "number":
    case "integer": {
      let n = spec.type === "integer" ? z.int() : z.number();
      if (spec.min !== undefined) n = n.min(spec.min);
      if (spec.max !== undefined) n = n.max(spec.max);
      return z.preprocess((raw) => (typeof raw === "string" && raw.trim() !== "" ? Number(raw) : raw), n);
    }
    case "boolean":
      return z.preprocess((raw) => {
        if (typeof raw !== "string") return raw;
        if (/^(true|1|yes|on)$/i.test(raw)) return true;
        if (/^(false|0|no|off)$/i.test(raw)) return false;
        return raw;
      }, z.boolean());
    case "string-list":
      return z.preprocess(
        (raw) =>
          typeof raw === "string"
            ? raw
                .split(",")
                .map((s) => s.trim())
                .filter((s) => s !== "")
            : raw,
        z.array(z.string()),
      );
  }
}

/** A node of the key tree: a field (leaf) or a mapping of child names. */
type KeyTree = Map<string, KeyTree | null>;

function tree(keys: string[]): KeyTree {
  const root: KeyTree = new Map();
  for (const key of keys) {
    const parts = key.split(".");
    let node = root;
    for (const [i, part] of parts.entries()) {
      const last = i === parts.length - 1;
      const existing = node.get(part);
      if (last) {
        if (existing !== undefined)
          throw new CacheonError("internal", `config schema: "${key}" is both a field and a section`);
        node.set(part, null);
      } else {
        if (existing === null)
          throw new CacheonError("internal", `config schema: "${key}" lies under the field "${part}"`);
        const child: KeyTree = existing ?? new Map();
        node.set(part, child);
        node = child;
      }
    }
  }
  return root;
}

function objectSchema(node: KeyTree, prefix: string, fields: Map<string, { leaf: z.ZodType }>): z.ZodType {
  const shape: Record<string, z.ZodType> = {};
  for (const [name, child] of node) {
    const key = prefix ? `${prefix}.${name}` : name;
    shape[name] = (
      child === null ? (fields.get(key)?.leaf ?? z.never()) : objectSchema(child, key, fields)
    ).optional();
  }
  return z.strictObject(shape);
}

/**
 * Turns `{ "a.b": 1, c: { "d.e": 2 } }` into nested mappings (null-prototype, so no key reaches
 * a prototype). A key given twice (dotted and nested) is a problem, not a silent overwrite.
 */
function expandDottedKeys(
  document: Record<string, unknown>,
  prefix: string,
  problems: string[],
): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  for (const [key, value] of Object.entries(document)) {
    const parts = key.split(".");
    if (parts.some((p) => p === "")) {
      problems.push(`unknown key "${prefix}${key}": empty part in a dotted key`);
      continue;
    }
    let node = out;
    for (const part of parts.slice(0, -1)) {
      const existing = Object.hasOwn(node, part) ? node[part] : undefined;
      if (existing === undefined) {
        const child: Record<string, unknown> = Object.create(null);
        node[part] = child;
        node = child;
      } else if (isMapping(existing)) node = existing;
      else {
        node = Object.create(null);
        problems.push(`"${prefix}${key}" is given twice (as a value and as a section)`);
      }
    }
    const last = parts.at(-1) as string;
    const full = `${prefix}${key}`;
    const expanded = isMapping(value) ? expandDottedKeys(value, `${full}.`, problems) : value;
    if (Object.hasOwn(node, last)) {
      const existing = node[last];
      if (isMapping(existing) && isMapping(expanded)) {
        for (const [k, v] of Object.entries(expanded)) {
          if (Object.hasOwn(existing, k)) problems.push(`"${full}.${k}" is given twice`);
          else existing[k] = v;
        }
      } else problems.push(`"${full}" is given twice`);
    } else node[last] = expanded;
  }
  return out;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function flattenInto(object: Record<string, unknown>, prefix: string, out: Map<string, unknown>): void {
  for (const [name, value] of Object.entries(object)) {
    if (value === undefined) continue;
    const key = prefix ? `${prefix}.${name}` : name;
    if (isMapping(value)) flattenInto(value, key, out);
    else out.set(key, value);
  }
}

function describeIssue(
  issue: z.core.$ZodIssue,
  document: Record<string, unknown>,
  fields: Map<string, { spec: FieldSpec }>,
): string[] {
  const path = issue.path.map(String);
  const dotted = path.join(".");
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((k) => {
      const key = dotted ? `${dotted}.${k}` : k;
      return `unknown key "${key}"${suggest(key, fields)}`;
    });
  }
  // An issue inside a list points at the item; the field is the path up to the list.
  let fieldPath = path;
  while (fieldPath.length > 0 && !fields.has(fieldPath.join("."))) fieldPath = fieldPath.slice(0, -1);
  const field = fields.get(fieldPath.join("."));
  const raw = valueAt(document, field ? fieldPath : path);
  if (!field)
    return [`${dotted || "(top level)"}: expected a mapping of keys to values, got ${describe(raw)}`];
  return [`${fieldPath.join(".")}: ${leafMessage(issue, field.spec, raw)}`];
}

function valueAt(document: Record<string, unknown>, path: string[]): unknown {
  let node: unknown = document;
  for (const part of path) {
    if (!isMapping(node) || !Object.hasOwn(node, part)) return undefined;
    node = node[part];
  }
  return node;
}

/** Our wording of a leaf's first problem; `raw` is what the source gave, before conversion. */
function leafMessage(issue: z.core.$ZodIssue | undefined, spec: FieldSpec, raw: unknown): string {
  if (issue?.code === "too_small") return `${shown(raw)} is below the minimum ${String(issue.minimum)}`;
  if (issue?.code === "too_big") return `${shown(raw)} is above the maximum ${String(issue.maximum)}`;
  switch (spec.type) {
    case "string":
      if (spec.values && typeof raw === "string")
        return `"${raw}" is not one of ${spec.values.map((v) => `"${v}"`).join(", ")}`;
      return `expected a string, got ${describe(raw)}`;
    case "number":
    case "integer": {
      const n = typeof raw === "string" && raw.trim() !== "" ? Number(raw) : raw;
      if (spec.type === "integer" && typeof n === "number" && Number.isFinite(n))
        return `expected an integer, got ${n}`;
      return `expected a number, got ${describe(raw)}`;
    }
    case "boolean":
      return `expected true or false, got ${describe(raw)}`;
    case "string-list":
      return `expected a list of strings (or a comma-separated string), got ${describe(raw)}`;
  }
}

function shown(raw: unknown): string {
  return typeof raw === "string" ? raw.trim() : String(raw);
}

function describe(raw: unknown): string {
  if (raw === null) return "null";
  if (raw === undefined) return "nothing";
  if (Array.isArray(raw)) return "a list";
  if (typeof raw === "object") return "a mapping";
  const text = JSON.stringify(raw) ?? String(raw);
  return `${typeof raw} ${text.length > 60 ? `${text.slice(0, 57)}...` : text}`;
}

function suggest(key: string, fields: Map<string, unknown>): string {
  const last = key.split(".").pop() ?? key;
  for (const k of fields.keys()) if (k.split(".").pop() === last) return ` (did you mean "${k}"?)`;
  return "";
}
