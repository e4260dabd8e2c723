import { mainFromProcess, type RunCliOptions } from "../../shared/cli/cli-command.ts";

/** The keyed controller's commands. Each loads lazily from its own file. */
export const controllerProgram: Omit<RunCliOptions, "argv" | "io"> = {
  program: "cacheon-controller",
  description:
    "the keyed side of cacheon: reads miners' commitments from the chain, schedules evaluations on pods, scores them and sets weights.",
  commands: {
    config: {
      summary: "validate and print the configuration (or --reference for every setting)",
      load: async () => (await import("./config-command.ts")).configCommand,
    },
    serve: {
      summary:
        "run the controller: read commitments, run rounds, publish, set weights, serve the operators' page",
      load: async () => (await import("./serve-command.ts")).serveCommand,
    },
    doctor: {
      summary:
        "check the wallet, chain, permit, store, publish target, providers, TLS and baseline, and say what to fix",
      load: async () => (await import("./doctor-command.ts")).doctorCommand,
    },
    status: {
      summary: "show submissions, the round in progress, who is paid and the last weights",
      load: async () => (await import("./status-command.ts")).statusCommand,
    },
    leaderboard: {
      summary: "rank every hotkey's current submission, with its verdict and why",
      load: async () => (await import("./leaderboard-command.ts")).leaderboardCommand,
    },
    "mint-token": {
      summary: "mint a one-time, expiring enrolment token bound to a pod id",
      load: async () => (await import("./mint-token-command.ts")).mintTokenCommand,
    },
    demo: {
      summary: "run the whole loop on this machine: local chain, miners, controller, local agents, page",
      load: async () => (await import("./demo-command.ts")).demoCommand,
    },
    "cloud-init": {
      summary: "write the #cloud-config user-data that boots the agent on a rented pod",
      load: async () => (await import("./cloud-init-command.ts")).cloudInitCommand,
    },
  },
};

/** Runs cacheon-controller with the process's arguments. */
export async function main(): Promise<void> {
  await mainFromProcess(controllerProgram);
}

if (import.meta.main) await main();
