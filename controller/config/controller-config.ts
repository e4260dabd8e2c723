import type { ConfigSchema } from "../../shared/config/config-schema.ts";

/** Prefix of the controller's environment variables. */
export const controllerEnvPrefix = "CACHEON_CONTROLLER_";

/**
 * Every setting of the controller, with its default. The README's configuration reference is
 * rendered from this table (`cacheon-controller config --reference`).
 */
export const controllerConfigSchema = {
  "log.level": {
    type: "string",
    doc: "Lowest log level written.",
    values: ["debug", "info", "warn", "error"],
    default: "info",
  },
  "log.format": {
    type: "string",
    doc: "Log format: JSON lines, or pretty lines for terminals (auto: pretty on a TTY).",
    values: ["auto", "json", "pretty"],
    default: "auto",
  },
  "store.path": {
    type: "string",
    doc: "SQLite file holding the controller's state and history.",
    default: ".cacheon/controller.db",
    flag: "store",
  },
} satisfies ConfigSchema;
