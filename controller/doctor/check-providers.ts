import { accessSync, constants } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";
import Docker from "dockerode";
import { requireTlsOffLoopback } from "../../shared/net/loopback.ts";
import type { ControllerSettings } from "../cli/controller-settings.ts";
import { type DoctorCheck, fail, ok, skip } from "./doctor-check.ts";

/**
 * Checks where jobs run. agents.mode local: the Docker engine answers. agents.mode remote: the
 * provider's commands exist and its list command answers (read-only: it rents nothing), and the
 * URL pods dial is TLS off loopback.
 */
export async function checkProviders(
  settings: ControllerSettings,
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<DoctorCheck[]> {
  if (settings.agents.mode === "local") {
    const title = "Docker engine (agents.mode local)";
    try {
      const version = await new Docker().version();
      return [
        ok(
          "providers",
          title,
          `Docker ${version.Version} answers; local agents ${settings.agents.localPods.join(", ")}`,
        ),
      ];
    } catch (error) {
      return [
        fail(
          "providers",
          title,
          `the Docker engine does not answer: ${(error as Error).message}`,
          "start dockerd (or set DOCKER_HOST), and let the controller's user use its socket",
        ),
      ];
    }
  }
  const checks: DoctorCheck[] = [];
  const provider = settings.pods.provider;
  const title = `pod provider (${provider.kind})`;
  if (provider.kind === "none")
    checks.push(
      ok("providers", title, "no fleet: agents enrol with tokens from `cacheon-controller mint-token`"),
    );
  else if (provider.kind === "static")
    checks.push(
      ok(
        "providers",
        title,
        `${provider.machines.length} machine${provider.machines.length === 1 ? "" : "s"}`,
        [provider.machines.map((m) => `${m.id}@${m.host}`).join(", ")],
      ),
    );
  else {
    const missing = [provider.create, provider.list, provider.delete]
      .map((command) => command[0])
      .filter((program) => !findExecutable(program, options.env ?? process.env));
    if (missing.length > 0)
      checks.push(
        fail(
          "providers",
          title,
          `not found or not executable: ${missing.join(", ")}`,
          "fix pods.createCommand/listCommand/deleteCommand",
        ),
      );
    else {
      const { podProvider } = await import("../fleet-wiring/start-remote-agents.ts");
      const { silentLogger } = await import("../../shared/log/logger.ts");
      try {
        const pods = await podProvider(settings, silentLogger)?.list(
          AbortSignal.timeout(options.timeoutMs ?? provider.timeoutMs),
        );
        checks.push(
          ok("providers", title, `the list command answers: ${pods?.length ?? 0} machines held now`),
        );
      } catch (error) {
        checks.push(
          fail(
            "providers",
            title,
            `the list command failed: ${(error as Error).message}`,
            "run pods.listCommand by hand: it must print the provider's machines as JSON",
          ),
        );
      }
    }
  }
  if (settings.pods.controllerUrl) {
    try {
      requireTlsOffLoopback(settings.pods.controllerUrl, "pods.controllerUrl");
      checks.push(ok("pods-url", "URL pods dial", settings.pods.controllerUrl));
    } catch (error) {
      checks.push(
        fail(
          "pods-url",
          "URL pods dial",
          (error as Error).message,
          "serve the control plane with TLS and give its https:// URL",
        ),
      );
    }
  } else
    checks.push(
      skip("pods-url", "URL pods dial", "pods.controllerUrl is empty: pods dial the control plane's own URL"),
    );
  return checks;
}

function findExecutable(program: string | undefined, env: NodeJS.ProcessEnv): boolean {
  if (!program) return false;
  const candidates =
    isAbsolute(program) || program.includes("/")
      ? [program]
      : (env.PATH ?? "")
          .split(delimiter)
          .filter(Boolean)
          .map((dir) => join(dir, program));
  return candidates.some((path) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
