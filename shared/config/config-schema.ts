/** Type of a configuration field's value. */
export type FieldType = "string" | "number" | "integer" | "boolean" | "string-list";

/** Declaration of one configuration field. */
export interface FieldSpec<T = unknown> {
  /** Value type; strings from the environment and flags are converted to it. */
  type: FieldType;
  /** What the field means, with its unit. Rendered into the configuration reference. */
  doc: string;
  /** Value when no source sets it. A field without a default and with `required` must be set. */
  default?: T;
  /** When true, a missing value is an error. */
  required?: boolean;
  /** Allowed values (strings only). */
  values?: readonly string[];
  /** Inclusive lower bound (numbers only). */
  min?: number;
  /** Inclusive upper bound (numbers only). */
  max?: number;
  /** Command-line flag that sets it, without dashes (e.g. "listen"); none when absent. */
  flag?: string;
  /** When true the value is masked in `config show` output and logs. */
  secret?: boolean;
}

/**
 * A configuration schema: dotted keys ("chain.endpoints") to field declarations. A file's nested
 * objects map onto the dots; the environment variable of "chain.endpoints" is
 * `<PREFIX>CHAIN_ENDPOINTS`.
 */
export type ConfigSchema = Record<string, FieldSpec>;

/** The environment variable name of a key. */
export function envName(prefix: string, key: string): string {
  return (
    prefix +
    key
      .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
      .replace(/[.-]/g, "_")
      .toUpperCase()
  );
}

/** A Markdown table documenting every field of a schema, for the README's configuration reference. */
export function renderConfigReference(schema: ConfigSchema, envPrefix: string): string {
  const rows = Object.entries(schema).map(([key, spec]) => {
    const def = spec.default === undefined ? (spec.required ? "required" : "") : JSON.stringify(spec.default);
    const flag = spec.flag ? `\`--${spec.flag}\`` : "";
    const values = spec.values ? ` One of ${spec.values.map((v) => `\`${v}\``).join(", ")}.` : "";
    return `| \`${key}\` | \`${envName(envPrefix, key)}\` | ${flag} | ${spec.type} | ${def} | ${spec.doc}${values} |`;
  });
  return [
    "| key (file) | environment | flag | type | default | meaning |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows,
  ].join("\n");
}
