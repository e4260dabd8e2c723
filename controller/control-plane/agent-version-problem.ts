import { compareVersions } from "../../shared/version/compare-versions.ts";

/**
 * Why an agent reporting `version` may not connect under a `minimum`; undefined when it may. Pure.
 */
export function agentVersionProblem(version: string, minimum: string): string | undefined {
  if (!minimum) return undefined;
  const order = compareVersions(version, minimum);
  if (order === undefined) {
    return `agent version ${JSON.stringify(version)} is not a version this controller can check against its minimum ${minimum}; run a released agent bundle`;
  }
  if (order < 0) {
    return `agent version ${version} is below the minimum ${minimum} this controller accepts; update the agent (download the current bundle and restart it)`;
  }
  return undefined;
}
