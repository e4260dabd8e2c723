import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { CacheonError } from "../errors/cacheon-error.ts";
import { type ConfigSchema, envName } from "./config-schema.ts";
import { configValidator } from "./config-validator.ts";

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
  const validator = configValidator(schema);
  const env = options.env ?? process.env;
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  const sources: Record<string, ConfigSource> = {};
  const set = (key: string, value: unknown, source: ConfigSource) => {
    values[key] = value;
    sources[key] = source;
  };

  for (const [key, spec] of Object.entries(schema)) {
    if (spec.default !== undefined) set(key, spec.default, "default");
  }

  if (options.file !== undefined) {
    const checked = validator.checkDocument(readConfigFile(options.file));
    for (const problem of checked.problems) problems.push(`${options.file}: ${problem}`);
    for (const [key, value] of checked.values) set(key, value, "file");
  }

  for (const key of Object.keys(schema)) {
    const name = envName(envPrefix, key);
    const raw = Object.hasOwn(env, name) ? env[name] : undefined;
    if (raw !== undefined && raw !== "") assign(key, raw, "env", name);
  }

  const flags = options.flags ?? {};
  for (const [key, spec] of Object.entries(schema)) {
    if (!spec.flag || !Object.hasOwn(flags, spec.flag)) continue;
    const raw = flags[spec.flag];
    if (raw !== undefined) assign(key, raw, "flag", `--${spec.flag}`);
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

  function assign(key: string, raw: unknown, source: ConfigSource, where: string) {
    const result = validator.checkValue(key, raw);
    if ("problem" in result) problems.push(`${where}: ${result.problem}`);
    else set(key, result.value, source);
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
