import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { CacheonError } from "../errors/cacheon-error.ts";
import { type ConfigSchema, envName, type FieldSpec } from "./config-schema.ts";

/** Where a configuration value came from, lowest precedence first. */
export type ConfigSource = "default" | "file" | "env" | "flag";

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** The fields. */
  schema: ConfigSchema;
  /** Path of a YAML or JSON file; skipped when undefined. */
  file?: string | undefined;
  /** Environment to read. @default process.env */
  env?: Record<string, string | undefined>;
  /** Prefix of environment variables, e.g. "CACHEON_". */
  envPrefix: string;
  /** Parsed command-line flags by flag name (see FieldSpec.flag); undefined entries are ignored. */
  flags?: Record<string, string | boolean | string[] | undefined>;
}

/** A loaded configuration: values by dotted key, and where each came from. */
export interface LoadedConfig {
  values: Record<string, unknown>;
  sources: Record<string, ConfigSource>;
}

/**
 * Loads configuration from defaults < file < environment < flags and validates it against the
 * schema. Every problem is collected and reported at once in one CacheonError("invalid-config").
 */
export function loadConfig(options: LoadConfigOptions): LoadedConfig {
  const { schema, envPrefix } = options;
  const env = options.env ?? process.env;
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  const sources: Record<string, ConfigSource> = {};

  for (const [key, spec] of Object.entries(schema)) {
    if (spec.default !== undefined) {
      values[key] = spec.default;
      sources[key] = "default";
    }
  }

  if (options.file !== undefined) {
    for (const [key, raw] of Object.entries(flatten(readConfigFile(options.file)))) {
      const spec = schema[key];
      if (!spec) {
        problems.push(`${options.file}: unknown key "${key}"${suggest(key, schema)}`);
        continue;
      }
      assign(key, spec, raw, "file", `${options.file}: ${key}`);
    }
  }

  for (const [key, spec] of Object.entries(schema)) {
    const name = envName(envPrefix, key);
    const raw = env[name];
    if (raw !== undefined && raw !== "") assign(key, spec, raw, "env", name);
  }

  for (const [key, spec] of Object.entries(schema)) {
    if (!spec.flag) continue;
    const raw = options.flags?.[spec.flag];
    if (raw !== undefined) assign(key, spec, raw, "flag", `--${spec.flag}`);
  }

  for (const [key, spec] of Object.entries(schema)) {
    if (spec.required && values[key] === undefined) {
      const ways = [`"${key}" in the config file`, envName(envPrefix, key)];
      if (spec.flag) ways.push(`--${spec.flag}`);
      problems.push(`${key}: required; set ${ways.join(" or ")}`);
    }
  }

  if (problems.length > 0) {
    throw new CacheonError(
      "invalid-config",
      `configuration has ${problems.length} problem${problems.length > 1 ? "s" : ""}:\n  - ${problems.join("\n  - ")}`,
    );
  }
  return { values, sources };

  function assign(key: string, spec: FieldSpec, raw: unknown, source: ConfigSource, where: string) {
    const result = coerce(spec, raw);
    if ("error" in result) {
      problems.push(`${where}: ${result.error}`);
      return;
    }
    values[key] = result.value;
    sources[key] = source;
  }
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new CacheonError("invalid-config", `cannot read config file ${path}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = path.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new CacheonError(
      "invalid-config",
      `config file ${path} is not valid YAML/JSON: ${(error as Error).message}`,
    );
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new CacheonError("invalid-config", `config file ${path} must hold a mapping of keys to values`);
  }
  return parsed as Record<string, unknown>;
}

function flatten(object: Record<string, unknown>, prefix = ""): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(object)) {
    const dotted = prefix ? `${prefix}.${key}` : key;
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      Object.assign(out, flatten(value as Record<string, unknown>, dotted));
    } else {
      out[dotted] = value;
    }
  }
  return out;
}

type Coerced = { value: unknown } | { error: string };

function coerce(spec: FieldSpec, raw: unknown): Coerced {
  switch (spec.type) {
    case "string": {
      if (typeof raw !== "string") return { error: `expected a string, got ${describe(raw)}` };
      if (spec.values && !spec.values.includes(raw)) {
        return { error: `"${raw}" is not one of ${spec.values.map((v) => `"${v}"`).join(", ")}` };
      }
      return { value: raw };
    }
    case "number":
    case "integer": {
      const n =
        typeof raw === "number"
          ? raw
          : typeof raw === "string" && raw.trim() !== ""
            ? Number(raw)
            : Number.NaN;
      if (!Number.isFinite(n)) return { error: `expected a number, got ${describe(raw)}` };
      if (spec.type === "integer" && !Number.isInteger(n)) return { error: `expected an integer, got ${n}` };
      if (spec.min !== undefined && n < spec.min) return { error: `${n} is below the minimum ${spec.min}` };
      if (spec.max !== undefined && n > spec.max) return { error: `${n} is above the maximum ${spec.max}` };
      return { value: n };
    }
    case "boolean": {
      if (typeof raw === "boolean") return { value: raw };
      if (typeof raw === "string" && /^(true|1|yes|on)$/i.test(raw)) return { value: true };
      if (typeof raw === "string" && /^(false|0|no|off)$/i.test(raw)) return { value: false };
      return { error: `expected true or false, got ${describe(raw)}` };
    }
    case "string-list": {
      const list = Array.isArray(raw)
        ? raw
        : typeof raw === "string"
          ? raw
              .split(",")
              .map((s) => s.trim())
              .filter((s) => s !== "")
          : undefined;
      if (!list?.every((item) => typeof item === "string")) {
        return { error: `expected a list of strings (or a comma-separated string), got ${describe(raw)}` };
      }
      return { value: list };
    }
  }
}

function describe(raw: unknown): string {
  return raw === null ? "null" : Array.isArray(raw) ? "a list" : `${typeof raw} ${JSON.stringify(raw)}`;
}

function suggest(key: string, schema: ConfigSchema): string {
  const last = key.split(".").pop() ?? key;
  const near = Object.keys(schema).find((k) => k.split(".").pop() === last);
  return near ? ` (did you mean "${near}"?)` : "";
}
