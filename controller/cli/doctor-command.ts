import { type CliCommand, ExitCode } from "../../shared/cli/cli-command.ts";
import { loadConfig } from "../../shared/config/load-config.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { controllerConfigSchema, controllerEnvPrefix } from "../config/controller-config.ts";
import { doctorExitCode, formatDoctorReport } from "../doctor/doctor-check.ts";
import { type DoctorGroup, doctorGroups, runDoctor } from "../doctor/run-doctor.ts";

/** `cacheon-controller doctor`: checks everything `serve` depends on and says what to fix. */
export const doctorCommand: CliCommand = {
  name: "doctor",
  summary:
    "check the wallet, chain, permit, store, publish target, providers, TLS and baseline, and say what to fix",
  help: `Usage: cacheon-controller doctor [--config FILE] [--store PATH] [--chain URL,...] [--only GROUP,...] [--strict] [--json]

Checks what \`serve\` depends on, the way \`serve\` uses it, and says what to fix for each problem:
  config          the configuration loads and has what serve needs; the round secret is set
  wallet          the hotkey file exists, is unencrypted, derives the ss58 address it names, mode 600
  chain           every endpoint answers (chain, genesis, runtime version, finalized head) and all
                  serve one chain; the subnet exists; the hotkey is registered with a validator
                  permit; under commit-reveal, weights.commitReveal and chain.drand match the chain
  store           the store opens, its schema is known, and who holds its single-writer lock
  publish         the publish target (folder or S3) and the raw artefact bucket take a probe object
                  (.cacheon-doctor-probe, overwritten each run); where the leaderboard page will be
  providers       agents.mode local: the Docker engine answers; remote: the pod provider's commands
                  exist and its list command answers (it rents nothing); the URL pods dial is TLS
  tls             the control plane's certificate and key: readable, matching, valid, not expiring
  baseline-image  rounds.baselineImage is pinned by digest and its registry has it

Safe beside a running \`serve\`: the store is opened read-only and nothing else is written.

Options:
  --config FILE      configuration file (YAML or JSON), as for serve
  --store PATH       the SQLite store (default .cacheon/controller.db)
  --chain URL,...    Subtensor endpoints
  --only GROUP,...   run only these groups (config always runs): ${doctorGroups.join(", ")}
  --strict           warnings count as something to fix (exit 1)
  --json             machine-readable: {"ok", "checks": [{"id", "title", "status", "summary", "details", "fix"}]}

Exit codes: 0 nothing to fix, 1 something to fix (each FAIL line says what), 2 usage error, 130 interrupted.`,
  options: {
    config: { type: "string" },
    store: { type: "string" },
    chain: { type: "string" },
    only: { type: "string" },
    strict: { type: "boolean" },
  },
  async run(values, _positionals, io) {
    const only = typeof values.only === "string" ? parseOnly(values.only) : undefined;
    let config: { values: Record<string, unknown> } | { error: Error };
    try {
      config = {
        values: loadConfig({
          schema: controllerConfigSchema,
          file: values.config as string | undefined,
          env: io.env,
          envPrefix: controllerEnvPrefix,
          flags: values,
        }).values,
      };
    } catch (error) {
      config = { error: error as Error };
    }
    const progress = io.stderr.isTTY && !values.json;
    const checks = await runDoctor({
      config,
      ...(only ? { only } : {}),
      env: io.env,
      onGroup: progress ? (group) => io.stderr.write(`checking ${group}...\r\x1b[K`) : undefined,
    });
    if (io.signal.aborted) return ExitCode.interrupted;
    const code = doctorExitCode(checks, { strict: values.strict === true });
    io.stdout.write(
      values.json
        ? `${JSON.stringify({ ok: code === 0, checks }, null, 2)}\n`
        : `${formatDoctorReport(checks)}\n`,
    );
    return code === 0 ? ExitCode.ok : ExitCode.negative;
  },
};

function parseOnly(text: string): DoctorGroup[] {
  const groups = text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = groups.filter((g) => !(doctorGroups as readonly string[]).includes(g));
  if (unknown.length > 0 || groups.length === 0)
    throw new CacheonError(
      "invalid-argument",
      `--only ${JSON.stringify(text)}: ${unknown.length ? `unknown group ${unknown.join(", ")}; ` : ""}use ${doctorGroups.join(", ")}`,
    );
  return groups as DoctorGroup[];
}
