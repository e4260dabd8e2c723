import { type CliCommand, ExitCode } from "../../shared/cli/cli-command.ts";
import { loadConfig } from "../../shared/config/load-config.ts";
import { controllerConfigSchema, controllerEnvPrefix } from "../config/controller-config.ts";
import { SqliteControlPlaneStore } from "../control-plane/control-plane-store.ts";
import { mintEnrolmentToken } from "../control-plane/enrolment.ts";

/** `cacheon-controller mint-token`: mints a one-time enrolment token bound to a pod. */
export const mintTokenCommand: CliCommand = {
  name: "mint-token",
  summary: "mint a one-time, expiring enrolment token bound to a pod id",
  help: `Usage: cacheon-controller mint-token --pod ID [--ttl-minutes N] [--store FILE] [--json]

Mints a one-time enrolment token for one pod and prints it once; the controller's store keeps
only its sha256. Put it into the pod's cloud-init; the agent trades it for a session credential.

Options:
  --pod ID            pod id the token is bound to
  --ttl-minutes N     how long the token stays valid (default 60, at most 10080)
  --store FILE        the controller's SQLite store (config store.path)
  --config FILE       configuration file
  --json              print {"token", "podId", "expiresAt"}

Exit codes: 0 minted, 2 usage or configuration error.`,
  options: {
    pod: { type: "string" },
    "ttl-minutes": { type: "string" },
    store: { type: "string" },
    config: { type: "string" },
  },
  async run(values, _positionals, io) {
    const podId = values.pod as string | undefined;
    if (!podId) {
      io.stderr.write("cacheon-controller mint-token: --pod is required.\n");
      return ExitCode.usage;
    }
    const ttlMinutes = Number(values["ttl-minutes"] ?? 60);
    if (!Number.isFinite(ttlMinutes) || ttlMinutes <= 0 || ttlMinutes > 10_080) {
      io.stderr.write(
        `cacheon-controller mint-token: --ttl-minutes must be between 1 and 10080 (got ${values["ttl-minutes"]}).\n`,
      );
      return ExitCode.usage;
    }
    const config = loadConfig({
      schema: controllerConfigSchema,
      file: values.config as string | undefined,
      env: io.env,
      envPrefix: controllerEnvPrefix,
      flags: values,
    });
    const store = new SqliteControlPlaneStore({ path: String(config.values["store.path"]) });
    try {
      const minted = mintEnrolmentToken(store, podId, ttlMinutes * 60_000, Date.now());
      const expiresAt = new Date(minted.expiresAtUnixMs).toISOString();
      io.stdout.write(
        values.json
          ? `${JSON.stringify({ token: minted.token, podId, expiresAt })}\n`
          : `${minted.token}\n(pod ${podId}, valid until ${expiresAt}, usable once)\n`,
      );
      return ExitCode.ok;
    } finally {
      store.close();
    }
  },
};
