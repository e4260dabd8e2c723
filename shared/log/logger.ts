import type { Writable } from "node:stream";

/** Severity of a log record, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const levelRank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Structured fields attached to a record. */
export type LogFields = Record<string, unknown>;

/** A structured logger. Library code receives one; it never reaches for a global. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every record. */
  child(fields: LogFields): Logger;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Lowest level written. @default "info" */
  level?: LogLevel;
  /**
   * "json": one JSON object per line (for machines and log shippers);
   * "pretty": aligned human-readable lines (for terminals).
   * @default "pretty" when the stream is a TTY, else "json"
   */
  format?: "json" | "pretty";
  /** Where records go. @default process.stderr */
  stream?: Writable & { isTTY?: boolean };
  /** Fields on every record. */
  fields?: LogFields;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

/** Creates a logger writing JSON lines or pretty lines. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const stream = options.stream ?? process.stderr;
  const format = options.format ?? (stream.isTTY ? "pretty" : "json");
  const min = levelRank[options.level ?? "info"];
  const now = options.now ?? Date.now;

  const make = (base: LogFields): Logger => {
    const write = (level: LogLevel, message: string, fields?: LogFields) => {
      if (levelRank[level] < min) return;
      const record = { ...base, ...fields };
      const time = new Date(now()).toISOString();
      stream.write(
        format === "json"
          ? `${JSON.stringify({ time, level, msg: message, ...serialisable(record) })}\n`
          : prettyLine(time, level, message, record),
      );
    };
    return {
      debug: (m, f) => write("debug", m, f),
      info: (m, f) => write("info", m, f),
      warn: (m, f) => write("warn", m, f),
      error: (m, f) => write("error", m, f),
      child: (fields) => make({ ...base, ...fields }),
    };
  };
  return make(options.fields ?? {});
}

/** A logger that drops everything, for tests and library defaults. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silentLogger,
};

function serialisable(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [key, value] of Object.entries(fields)) {
    out[key] =
      value instanceof Error
        ? { name: value.name, message: value.message, ...("code" in value ? { code: value.code } : {}) }
        : typeof value === "bigint"
          ? value.toString()
          : value;
  }
  return out;
}

const levelTag: Record<LogLevel, string> = { debug: "DBG", info: "INF", warn: "WRN", error: "ERR" };

function prettyLine(time: string, level: LogLevel, message: string, fields: LogFields): string {
  const extra = Object.entries(serialisable(fields))
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  return `${time.slice(11, 23)} ${levelTag[level]} ${message}${extra ? `  ${extra}` : ""}\n`;
}
