import type { SQLInputValue } from "node:sqlite";

/** A row as node:sqlite returns it. */
export type Row = Record<string, SQLInputValue>;

/** A nullable numeric column. */
export function numOrNull(v: SQLInputValue | undefined): number | null {
  return v === null || v === undefined ? null : Number(v);
}

/** A nullable text column. */
export function strOrNull(v: SQLInputValue | undefined): string | null {
  return v === null || v === undefined ? null : String(v);
}

/** A nullable column holding JSON. */
export function jsonOrNull<T>(v: SQLInputValue | undefined): T | null {
  return v === null || v === undefined ? null : (JSON.parse(String(v)) as T);
}
