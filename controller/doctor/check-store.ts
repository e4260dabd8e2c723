import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { openStore } from "../store/controller-store.ts";
import { migrations } from "../store/migrations.ts";
import { describeHolder, lockVerdict, processAlive, storeLockHolder } from "../store/store-lock.ts";
import { type DoctorCheck, fail, ok, warn } from "./doctor-check.ts";

/** Options of {@link checkStore}. */
export interface CheckStoreOptions {
  /** @default Date.now */
  nowMs?: number;
  /** Lock heartbeat age beyond which a holder counts as gone (StoreLockOptions.staleAfterMs). @default 120000 */
  staleAfterMs?: number;
}

/**
 * Checks the store read-only: it opens, its schema is one this controller knows, and who holds
 * its single-writer lock (a live `serve` is fine for doctor; a dead holder is taken over at the
 * next start; a live one on another host or this one means a second serve would be refused).
 */
export function checkStore(path: string, options: CheckStoreOptions = {}): DoctorCheck[] {
  const title = "store";
  if (path !== ":memory:" && !existsSync(path))
    return [ok("store", title, `${path} does not exist yet; \`serve\` creates it`)];
  let store: ReturnType<typeof openStore>;
  try {
    store = openStore({ path, readOnly: true });
  } catch (error) {
    return [
      fail(
        "store",
        title,
        (error as Error).message,
        "check store.path and its permissions, or restore a backup",
      ),
    ];
  }
  try {
    const version = store.schemaVersion();
    const known = migrations.at(-1)?.version ?? 0;
    const schema =
      version < known
        ? ok("store", title, `${path}: schema ${version}; \`serve\` migrates it to ${known}`)
        : ok("store", title, `${path}: schema ${version}, ${store.rounds.list(1)[0]?.number ?? 0} rounds`);
    const holder = storeLockHolder(store.db);
    const lockTitle = "store lock";
    if (!holder) return [schema, ok("store-lock", lockTitle, "free: no controller is writing this store")];
    const nowMs = options.nowMs ?? Date.now();
    const verdict = lockVerdict({
      holder,
      self: { host: hostname() },
      nowMs,
      staleAfterMs: options.staleAfterMs ?? 120_000,
      alive: processAlive,
    });
    const who = `${describeHolder(holder)}, last heartbeat ${Math.round((nowMs - holder.heartbeatMs) / 1000)} s ago`;
    if (verdict.kind === "takeover")
      return [
        schema,
        warn(
          "store-lock",
          lockTitle,
          `held by ${who}, but ${verdict.why}`,
          "nothing to do if that controller is really gone: the next `serve` takes the lock over and says so",
        ),
      ];
    return [
      schema,
      ok("store-lock", lockTitle, `held by ${who} (a running controller)`, [
        "a second `serve` on this store would be refused; stop that one first to move it",
      ]),
    ];
  } finally {
    store.close();
  }
}
