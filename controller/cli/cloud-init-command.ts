import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CliCommand } from "../../shared/cli/cli-command.ts";
import { ExitCode } from "../../shared/cli/cli-command.ts";
import { loadConfig } from "../../shared/config/load-config.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { controllerConfigSchema, controllerEnvPrefix } from "../config/controller-config.ts";
import { SqliteControlPlaneStore } from "../control-plane/control-plane-store.ts";
import { mintEnrolmentToken } from "../control-plane/enrolment.ts";
import { findLeakedSecrets, renderCloudInit, validateCloudInitOptions } from "../pods/cloud-init.ts";
import { podsConfigSchema } from "../pods/pods-config.ts";

/** `cacheon-controller cloud-init`: writes the #cloud-config user-data that turns a rented GPU host into an agent. */
export const cloudInitCommand: CliCommand = {
  name: "cloud-init",
  summary: "write the #cloud-config user-data that boots the agent on a rented pod",
  help: `Usage: cacheon-controller cloud-init --pod ID (--token TOKEN | --mint) [options]

Writes #cloud-config user-data for one pod (Ubuntu 22.04 with an NVIDIA driver): installs or
checks Docker, the NVIDIA container toolkit and Node 24; downloads the agent bundle and refuses
to run it unless its sha256 matches; writes the pod's one-time enrolment token and the
controller's address to a root-only file; installs a systemd unit that restarts the agent; and
reports any failed step to the controller. It never contains a wallet key or storage credential.

Options:
  --pod ID               pod id the token is bound to (lowercase letters, digits, dashes)
  --token TOKEN          the pod's one-time enrolment token
  --mint                 mint the token in the controller's store (config store.path)
  --ttl-minutes N        lifetime of a minted token (default 60, at most 10080)
  --profile NAME         hardware profile the agent checks (default h200x8)
  --controller URL       URL agents dial (config pods.controllerUrl)
  --bundle-url URL       where the pod downloads the agent bundle (config pods.bundleUrl)
  --bundle-sha256 HEX    the bundle's sha256 (config pods.bundleSha256)
  --report-url URL       where boot failures are POSTed (default <controller>/v1/pods/<pod>/boot-failure)
  --out FILE             write here (mode 0600) instead of stdout
  --check                validate the result with \`cloud-init schema\` (exit 1 when invalid)
  --config FILE          configuration file (YAML or JSON)
  --json                 print a summary as JSON (needs --out)

Environment: ${controllerEnvPrefix}PODS_CONTROLLER_URL, ${controllerEnvPrefix}PODS_BUNDLE_URL,
${controllerEnvPrefix}PODS_BUNDLE_SHA256, ${controllerEnvPrefix}PODS_BOOT_REPORT_URL.

Exit codes: 0 written, 1 written but \`cloud-init schema\` rejected it, 2 usage or configuration error.`,
  options: {
    pod: { type: "string" },
    token: { type: "string" },
    mint: { type: "boolean" },
    "ttl-minutes": { type: "string" },
    profile: { type: "string" },
    store: { type: "string" },
    controller: { type: "string" },
    "bundle-url": { type: "string" },
    "bundle-sha256": { type: "string" },
    "report-url": { type: "string" },
    out: { type: "string" },
    check: { type: "boolean" },
    config: { type: "string" },
  },
  async run(values, _positionals, io) {
    const podId = values.pod as string | undefined;
    if (!podId)
      throw new CacheonError("invalid-argument", "--pod ID is required: the pod the user-data is for");
    if (values.token !== undefined && values.mint) {
      throw new CacheonError("invalid-argument", "give either --token or --mint, not both");
    }
    if (values.json && !values.out) {
      throw new CacheonError(
        "invalid-argument",
        "--json prints a summary, so the user-data needs --out FILE",
      );
    }
    if (values.token === undefined && !values.mint) {
      throw new CacheonError(
        "invalid-argument",
        "an enrolment token is required: pass --token TOKEN or --mint",
      );
    }
    const ttlMinutes = Number(values["ttl-minutes"] ?? 60);
    if (!Number.isFinite(ttlMinutes) || ttlMinutes <= 0 || ttlMinutes > 10_080) {
      throw new CacheonError(
        "invalid-argument",
        `--ttl-minutes must be between 1 and 10080 (got ${values["ttl-minutes"]})`,
      );
    }
    const { values: config } = loadConfig({
      schema: { ...controllerConfigSchema, ...podsConfigSchema },
      file: values.config as string | undefined,
      env: io.env,
      envPrefix: controllerEnvPrefix,
      flags: values,
    });
    const missing = (["pods.controllerUrl", "pods.bundleUrl", "pods.bundleSha256"] as const).filter(
      (key) => config[key] === undefined,
    );
    if (missing.length) {
      const flags = missing.map((key) => `--${podsConfigSchema[key].flag}`);
      throw new CacheonError(
        "invalid-config",
        `missing ${missing.join(", ")}: pass ${flags.join(", ")} or set them in the config file`,
      );
    }
    const check = {
      podId,
      enrolmentToken: "cpe_placeholder_checked_before_minting",
      controllerUrl: config["pods.controllerUrl"] as string,
      bundleUrl: config["pods.bundleUrl"] as string,
      bundleSha256: (config["pods.bundleSha256"] as string).toLowerCase(),
      ...(config["pods.bootReportUrl"] ? { bootReportUrl: config["pods.bootReportUrl"] as string } : {}),
      ...(values.profile ? { hardwareProfile: values.profile as string } : {}),
    };
    // Everything else is checked before a token is minted, so a typo does not burn one.
    validateCloudInitOptions(check);
    const options = validateCloudInitOptions({
      ...check,
      enrolmentToken:
        (values.token as string | undefined) ?? mint(String(config["store.path"]), podId, ttlMinutes),
    });
    const userData = renderCloudInit(options);
    const leaked = findLeakedSecrets(userData, io.env);
    if (leaked.length) {
      throw new CacheonError(
        "invalid-config",
        `refusing to write user-data that contains the value of ${leaked.join(", ")}: pods must never hold keys or storage credentials; check the URLs and token you passed`,
      );
    }
    const out = values.out as string | undefined;
    if (out) writeFileSync(out, userData, { mode: 0o600 });
    else if (!values.check) io.stdout.write(userData);
    let valid: boolean | undefined;
    if (values.check) {
      const result = checkCloudConfig(userData);
      valid = result.ok;
      if (!out && valid) io.stdout.write(userData);
      if (!valid) io.stderr.write(`cloud-init schema rejected the user-data:\n${result.output}\n`);
    }
    if (values.json) {
      io.stdout.write(
        `${JSON.stringify({
          podId,
          out,
          bytes: Buffer.byteLength(userData),
          sha256: createHash("sha256").update(userData).digest("hex"),
          bootReportUrl: options.bootReportUrl,
          schemaValid: valid ?? null,
        })}\n`,
      );
    } else if (out) {
      io.stderr.write(
        `wrote user-data for pod ${podId} to ${out}${valid ? " (cloud-init schema: valid)" : ""}\n`,
      );
    }
    return valid === false ? ExitCode.negative : ExitCode.ok;
  },
};

function mint(storePath: string, podId: string, ttlMinutes: number): string {
  const store = new SqliteControlPlaneStore({ path: storePath });
  try {
    return mintEnrolmentToken(store, podId, ttlMinutes * 60_000, Date.now()).token;
  } finally {
    store.close();
  }
}

/** Runs the real `cloud-init schema` on user-data. Throws unavailable when cloud-init is not installed. */
export function checkCloudConfig(userData: string): { ok: boolean; output: string } {
  const dir = mkdtempSync(join(tmpdir(), "cacheon-cloud-init-"));
  try {
    const file = join(dir, "user-data");
    writeFileSync(file, userData, { mode: 0o600 });
    const result = spawnSync("cloud-init", ["schema", "--config-file", file], {
      encoding: "utf8",
      timeout: 60_000,
    });
    if (result.error) {
      throw new CacheonError(
        "unavailable",
        `could not run \`cloud-init schema\`: ${result.error.message}; install it (apt-get install cloud-init) or drop --check`,
      );
    }
    return { ok: result.status === 0, output: `${result.stdout}${result.stderr}`.trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
