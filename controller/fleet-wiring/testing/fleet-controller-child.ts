// A controller process in agents.mode remote with a fleet, for the restart test: the production
// wiring (startRemoteAgents: control plane, fleet on the `command` provider over the fake cloud,
// adoption after a restart) and one round on it. Prints "STEP <what>" as the round goes, "DONE"
// when it settled, "CLOSED" once every machine is returned.
//   FAKE_CLOUD_DIR=... node controller/fleet-wiring/testing/fleet-controller-child.ts STORE PORT
import { join } from "node:path";
import { loadConfig } from "../../../shared/config/load-config.ts";
import { createLogger } from "../../../shared/log/logger.ts";
import { resolveControllerSettings } from "../../cli/controller-settings.ts";
import { controllerConfigSchema, controllerEnvPrefix } from "../../config/controller-config.ts";
import { runRound } from "../../rounds/run-round.ts";
import { scenarioSettings } from "../../rounds/testing/sim-scenario.ts";
import { defaultScoringPolicy } from "../../scoring/scoring-policy.ts";
import { openStore } from "../../store/controller-store.ts";
import { startRemoteAgents } from "../start-remote-agents.ts";

const [storePath, port] = process.argv.slice(2);
if (!storePath || !port) {
  process.stderr.write("usage: fleet-controller-child.ts STORE PORT\n");
  process.exit(2);
}
const cloud = join(import.meta.dirname, "..", "..", "..", "test", "fixtures", "providers", "fake-cloud.ts");
const script = (verb: string) => [process.execPath, cloud, verb].join(",");
const env = {
  CACHEON_CONTROLLER_STORE_PATH: storePath,
  CACHEON_CONTROLLER_AGENTS_MODE: "remote",
  CACHEON_CONTROLLER_CONTROL_PLANE_LISTEN: `127.0.0.1:${port}`,
  CACHEON_CONTROLLER_PODS_PROVIDER: "command",
  CACHEON_CONTROLLER_PODS_CREATE_COMMAND: script("create"),
  CACHEON_CONTROLLER_PODS_LIST_COMMAND: script("list"),
  CACHEON_CONTROLLER_PODS_DELETE_COMMAND: script("delete"),
  CACHEON_CONTROLLER_PODS_MAX_PODS: "2",
  CACHEON_CONTROLLER_PODS_TICK_SECONDS: "0.2",
  CACHEON_CONTROLLER_PODS_CONTROLLER_URL: `http://127.0.0.1:${port}`,
  CACHEON_CONTROLLER_PODS_BUNDLE_URL: "http://127.0.0.1:9/agent.tgz",
  CACHEON_CONTROLLER_PODS_BUNDLE_SHA256: "0".repeat(64),
  CACHEON_CONTROLLER_ROUNDS_HARDWARE_PROFILE: "none",
};
const settings = resolveControllerSettings(
  loadConfig({ schema: controllerConfigSchema, env, envPrefix: controllerEnvPrefix }).values,
);
const logger = createLogger({ level: "warn", format: "json", stream: process.stderr });
const step = (what: string) => process.stdout.write(`STEP ${what}\n`);
const store = openStore({ path: storePath });
const signal = new AbortController().signal;
const remote = await startRemoteAgents(settings, logger, signal, {
  jobWanted: (jobId) => store.jobs.get(jobId)?.state === "running",
});
step("listening");
await runRound(
  {
    store,
    runner: remote.runner,
    pods: remote.pods,
    settings: scenarioSettings,
    policy: defaultScoringPolicy,
    finalizedHead: async () => ({ block: 60, hash: "0x0606" }),
    pollMs: 20,
    onStep: (s) => step(`${s.kind} ${s.jobId ?? s.roundId}`),
  },
  signal,
);
process.stdout.write("DONE\n");
await remote.close();
store.close();
process.stdout.write("CLOSED\n");
