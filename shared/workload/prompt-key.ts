import { randomBytes } from "node:crypto";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { CacheonError } from "../errors/cacheon-error.ts";

/** The least entropy a prompt secret may have. */
export const MIN_PROMPT_SECRET_BITS = 128;

/** How to make a secret, for error messages and `cacheon-controller config --new-secret`. */
export const promptSecretHowTo =
  "make one with `cacheon-controller config --new-secret` (or `openssl rand -hex 32`) and keep it private";

/**
 * Parses a prompt secret given as hex (64 hex digits from --new-secret; at least 32, i.e. 128 bits).
 * Only hex is accepted because its length proves its size; a passphrase's entropy cannot be checked.
 */
export function parsePromptSecret(text: string, name = "the validator secret"): Uint8Array {
  const clean = text.trim().replace(/^0x/, "");
  if (clean === "") throw new CacheonError("invalid-config", `${name} is not set: ${promptSecretHowTo}`);
  if (!/^[0-9a-fA-F]+$/.test(clean) || clean.length % 2 !== 0) {
    throw new CacheonError(
      "invalid-config",
      `${name} must be hex (an even number of 0-9a-f digits): ${promptSecretHowTo}`,
    );
  }
  if (clean.length * 4 < MIN_PROMPT_SECRET_BITS) {
    throw new CacheonError(
      "invalid-config",
      `${name} has ${clean.length * 4} bits; at least ${MIN_PROMPT_SECRET_BITS} are needed so nobody can guess it: ${promptSecretHowTo}`,
    );
  }
  return Uint8Array.from(Buffer.from(clean, "hex"));
}

/** A fresh 256-bit secret as 64 hex digits. */
export function newPromptSecret(): string {
  return randomBytes(32).toString("hex");
}

/**
 * The key one job's prompts are drawn with: HKDF-SHA256(secret, salt "cacheon/prompts/v1", info =
 * the job's seed). Knowing the seed (it travels to pods and is published) is not enough to know the
 * prompts; knowing one job's prompts or key tells nothing about another's.
 */
export function promptKey(secret: Uint8Array, seed: string): Uint8Array {
  if (secret.length * 8 < MIN_PROMPT_SECRET_BITS) {
    throw new CacheonError(
      "invalid-argument",
      `a prompt secret needs at least ${MIN_PROMPT_SECRET_BITS} bits`,
    );
  }
  return hkdf(
    sha256,
    secret,
    new TextEncoder().encode("cacheon/prompts/v1"),
    new TextEncoder().encode(seed),
    32,
  );
}
