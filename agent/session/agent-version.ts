import { readFileSync } from "node:fs";
import { join } from "node:path";

// The bundle (bundle/build-agent-bundle.ts) defines this as the version it was built as: the
// package version with the commit as build metadata ("0.1.0+g1a2b3c4d5e6f"). From a checkout it is
// undefined and package.json says.
declare const CACHEON_AGENT_VERSION: string | undefined;

/**
 * The agent's real version, sent with enrolment and every Hello (the controller refuses agents
 * below its minimum): what the bundle was built as, or the checkout's package.json version.
 */
export const agentVersion: string =
  typeof CACHEON_AGENT_VERSION === "string" ? CACHEON_AGENT_VERSION : checkoutVersion();

function checkoutVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "package.json"), "utf8")) as {
      version?: unknown;
    };
    return typeof pkg.version === "string" ? pkg.version : "0.0.0-unknown";
  } catch {
    return "0.0.0-unknown";
  }
}
