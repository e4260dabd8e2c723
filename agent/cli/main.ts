import { mainFromProcess, type RunCliOptions } from "../../shared/cli/cli-command.ts";
import { agentVersion } from "../session/agent-version.ts";

/** The keyless agent's commands. Each loads lazily from its own file. */
export const agentProgram: Omit<RunCliOptions, "argv" | "io"> = {
  program: "cacheon-agent",
  version: agentVersion,
  description:
    "the keyless side of cacheon: verifies a GPU pod, runs the baseline and the challengers in isolated containers, measures speed and correctness in one pass, and streams results to the controller (or, in local mode, to you).",
  commands: {
    hardware: {
      summary: "verify this machine's GPUs, NVLink topology and software against a hardware profile",
      load: async () => (await import("./hardware-command.ts")).hardwareCommand,
    },
    "gpu-activity": {
      summary: "sample per-GPU utilisation, memory, power and processes over a window",
      load: async () => (await import("./gpu-activity-command.ts")).gpuActivityCommand,
    },
    run: {
      summary: "pod mode: enrol with the controller and run the jobs it sends until stopped",
      load: async () => (await import("./run-command.ts")).runCommand,
    },
    local: {
      summary: "run the validator's evaluation of your image on this machine and see what a validator would",
      load: async () => (await import("./local-command.ts")).localCommand,
    },
    regrade: {
      summary:
        "judge a job again from its evidence bundles, offline, and say whether the verdicts are the same",
      load: async () => (await import("./regrade-command.ts")).regradeCommand,
    },
    bench: {
      summary: "measure a streaming OpenAI-compatible server: TTFT, TPOT, ITL, E2E, throughput, failures",
      load: async () => (await import("./bench-command.ts")).benchCommand,
    },
    compare: {
      summary:
        "run a reference and a candidate server on the same workload: speed ratio and correctness verdict",
      load: async () => (await import("./compare-command.ts")).compareCommand,
    },
  },
};

/** Runs cacheon-agent with the process's arguments. */
export async function main(): Promise<void> {
  await mainFromProcess(agentProgram);
}

if (import.meta.main) await main();
