import type { CliCommand } from "../../shared/cli/cli-command.ts";
import { ExitCode } from "../../shared/cli/cli-command.ts";
import { renderConfigReference } from "../../shared/config/config-schema.ts";
import { loadConfig } from "../../shared/config/load-config.ts";
import { newPromptSecret } from "../../shared/workload/prompt-key.ts";
import { controllerConfigSchema, controllerEnvPrefix } from "../config/controller-config.ts";

/** `cacheon-controller config`: validates and prints the resolved configuration, or its reference. */
export const configCommand: CliCommand = {
  name: "config",
  summary: "validate and print the configuration (or --reference for every setting)",
  help: `Usage: cacheon-controller config [--config FILE] [--json] [--reference | --new-secret]

Loads the configuration from defaults, FILE (YAML or JSON), ${controllerEnvPrefix}* variables and
flags; reports every invalid field at once; prints each value with where it came from.

Options:
  --config FILE   configuration file (YAML or JSON)
  --reference     print the table of every setting (Markdown) instead
  --new-secret    print a fresh 256-bit rounds.validatorSecret (hex) and how to set it; serve
                  refuses to start without a secret of at least 128 bits
  --json          machine-readable output

Exit codes: 0 valid, 2 invalid configuration.`,
  options: { config: { type: "string" }, reference: { type: "boolean" }, "new-secret": { type: "boolean" } },
  async run(values, _positionals, io) {
    if (values["new-secret"]) {
      const secret = newPromptSecret();
      if (values.json) io.stdout.write(`${JSON.stringify({ validatorSecret: secret })}\n`);
      else {
        io.stdout.write(
          `${secret}\n\nSet it as rounds.validatorSecret (config file: rounds: { validatorSecret: "<hex>" }, or the\n` +
            `environment: ${controllerEnvPrefix}ROUNDS_VALIDATOR_SECRET=<hex>). Keep it private, and keep it:\n` +
            "it keys every job's prompts, and the prompts published after a round are made again from it.\n",
        );
      }
      return ExitCode.ok;
    }
    if (values.reference) {
      io.stdout.write(`${renderConfigReference(controllerConfigSchema, controllerEnvPrefix)}\n`);
      return ExitCode.ok;
    }
    const loaded = loadConfig({
      schema: controllerConfigSchema,
      file: values.config as string | undefined,
      env: io.env,
      envPrefix: controllerEnvPrefix,
      flags: values,
    });
    // Secrets (validator secret, S3 key, dev key URI) are masked: this output ends up in logs.
    for (const [key, spec] of Object.entries(controllerConfigSchema) as [string, { secret?: boolean }][]) {
      if (spec.secret && loaded.values[key]) loaded.values[key] = "***";
    }
    if (values.json) {
      io.stdout.write(`${JSON.stringify(loaded, null, 2)}\n`);
    } else {
      for (const [key, value] of Object.entries(loaded.values)) {
        io.stdout.write(`${key} = ${JSON.stringify(value)}  (${loaded.sources[key]})\n`);
      }
    }
    return ExitCode.ok;
  },
};
