import { randomBytes } from "node:crypto";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";

/**
 * The `--network` flag of a job run on this machine (`cacheon-agent local`, `cacheon-miner
 * evaluate`): "internal" (the default, as validators run arms) or "host". Throws invalid-argument.
 */
export function networkModeFlag(text: string | undefined): "internal" | "host" {
  const network = text ?? "internal";
  if (network !== "internal" && network !== "host") {
    throw new CacheonError("invalid-argument", `--network must be "internal" or "host", got "${network}"`);
  }
  return network;
}

/**
 * The `--seed` flag of such a job: 1 to 64 hex digits, or a fresh random 64-bit seed when it is
 * not given. Throws invalid-argument.
 */
export function jobSeedFlag(text: string | undefined): string {
  const seed = text ?? randomBytes(8).toString("hex");
  if (!/^[0-9a-fA-F]{1,64}$/.test(seed)) {
    throw new CacheonError("invalid-argument", `--seed must be 1 to 64 hex digits, got "${seed}"`);
  }
  return seed;
}

/**
 * The `--nofile` flag of such a job: the open-files limit in its containers, an integer of at
 * least 64; 65536 (what validators use) when it is not given. Throws invalid-argument.
 */
export function nofileFlag(text: string | undefined): number {
  if (text === undefined) return 65536;
  const nofile = Number(text);
  if (!Number.isInteger(nofile) || nofile < 64)
    throw new CacheonError("invalid-argument", `--nofile must be an integer >= 64, got "${text}"`);
  return nofile;
}
