import type { CommandIo, CommandValues } from "../../shared/cli/cli-command.ts";
import { loadConfig } from "../../shared/config/load-config.ts";
import { controllerConfigSchema, controllerEnvPrefix } from "../config/controller-config.ts";
import { type ControllerStore, openStore } from "../store/controller-store.ts";

/** Opens the configured store read-only, for operators' commands that may run beside `serve`. */
export function openConfiguredStore(values: CommandValues, io: CommandIo): ControllerStore {
  const { values: config } = loadConfig({
    schema: controllerConfigSchema,
    file: values.config as string | undefined,
    env: io.env,
    envPrefix: controllerEnvPrefix,
    flags: values,
  });
  return openStore({ path: String(config["store.path"]), readOnly: true });
}
