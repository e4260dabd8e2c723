import { mainFromProcess, type RunCliOptions } from "../../shared/cli/cli-command.ts";

/** The miners' commands. Each loads lazily from its own file. */
export const minerProgram: Omit<RunCliOptions, "argv" | "io"> = {
  program: "cacheon-miner",
  description:
    "the miners' side of cacheon: see what a validator would decide about your inference server's image, and publish it, pinned by digest, as your hotkey's commitment on the subnet.",
  commands: {
    commit: {
      summary: "write REF@sha256:DIGEST as your hotkey's commitment and wait for finality",
      load: async () => (await import("./commit-command.ts")).commitCommand,
    },
    evaluate: {
      summary: "run a validator's evaluation of your image here and say whether it would take the lead",
      load: async () => (await import("./evaluate-command.ts")).evaluateCommand,
    },
  },
};

/** Runs cacheon-miner with the process's arguments. */
export async function main(): Promise<void> {
  await mainFromProcess(minerProgram);
}

if (import.meta.main) await main();
