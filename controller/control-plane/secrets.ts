import { createHash, randomBytes } from "node:crypto";

/** Prefix of enrolment tokens, so a leaked one is recognisable in logs and secret scanners. */
export const enrolmentTokenPrefix = "cpe_";
/** Prefix of session credentials. */
export const sessionCredentialPrefix = "cps_";

/** A new random secret: prefix + 256 random bits, base64url. */
export function mintSecret(prefix: string): string {
  return `${prefix}${randomBytes(32).toString("base64url")}`;
}

/** sha256 (hex) of a secret: the only form in which tokens and credentials are stored. */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

/** True when the string has the shape of a secret minted with `prefix` (43 base64url characters). */
export function looksLikeSecret(value: string, prefix: string): boolean {
  return (
    value.length === prefix.length + 43 &&
    value.startsWith(prefix) &&
    /^[A-Za-z0-9_-]+$/.test(value.slice(prefix.length))
  );
}
