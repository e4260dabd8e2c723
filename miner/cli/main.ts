import { mainFromProcess, type RunCliOptions } from "../../shared/cli/cli-command.ts";

/** The miners' commands. Each loads lazily from its own file. */
export const minerProgram: Omit<RunCliOptions, "argv" | "io"> = {
  program: "cacheon-miner",
  description:
    "the miners' side of cacheon: publish your inference server's image, pinned by digest, as your hotkey's commitment on the subnet.",
  commands: {
    commit: {
      summary: "write REF@sha256:DIGEST as your hotkey's commitment and wait for finality",
      load: async () => (await import("./commit-command.ts")).commitCommand,
    },
  },
};

/** Runs cacheon-miner with the process's arguments. */
export async function main(): Promise<void> {
  await mainFromProcess(minerProgram);
}

if (import.meta.main) await main();
