import { PassThrough } from "node:stream";
import { type RunCliOptions, runCli } from "../../shared/cli/cli-command.ts";

/** Runs a cacheon program's command in-process, capturing its exit code, stdout and stderr. */
export async function captureCli(
  program: Omit<RunCliOptions, "argv" | "io">,
  argv: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (b) => {
    out += String(b);
  });
  stderr.on("data", (b) => {
    err += String(b);
  });
  const code = await runCli({
    ...program,
    argv,
    io: { stdout, stderr, env, signal: new AbortController().signal },
  });
  return { code, out, err };
}
