import { isIP } from "node:net";
import { CacheonError } from "../errors/cacheon-error.ts";

/**
 * True for a host name that can only mean this machine: "localhost", 127.0.0.0/8, ::1 and
 * IPv4-mapped 127.0.0.0/8 (also in brackets, as URLs write them). Pure; no lookup, so a name that merely resolves to loopback is not.
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  if (isIP(host) === 6) return host === "::1" || host === "0:0:0:0:0:0:0:1" || host.startsWith("::ffff:127.");
  return false;
}

/**
 * Throws CacheonError("invalid-config") unless `url` is https://, or http:// to loopback: what it
 * carries (a token, a session credential, a pre-signed URL) must not cross a network in clear text.
 * Returns the parsed URL.
 */
export function requireTlsOffLoopback(url: string, what: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CacheonError(
      "invalid-config",
      `${what} ${JSON.stringify(url)} is not a URL; use https://host:port`,
    );
  }
  if (parsed.protocol === "https:") return parsed;
  if (parsed.protocol === "http:" && isLoopbackHost(parsed.hostname)) return parsed;
  throw new CacheonError(
    "invalid-config",
    parsed.protocol === "http:"
      ? `${what} ${url} is plain http to another machine: what it carries would cross the network in clear text; use https:// (http:// is accepted only on loopback)`
      : `${what} ${url} must start with https:// (or http:// on loopback)`,
  );
}
