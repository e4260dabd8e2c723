import { execFile } from "node:child_process";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";

/** Options of {@link runNvidiaSmi}. */
export interface RunNvidiaSmiOptions {
  /** nvidia-smi to run (a name looked up on PATH, or a path). @default "nvidia-smi" */
  nvidiaSmiPath?: string;
  /** Environment of the child; loader overrides should already be removed. @default process.env */
  env?: Record<string, string | undefined>;
  /** Cancels the run. */
  signal?: AbortSignal;
  /** Kill nvidia-smi after this long; a hung driver makes it block. @default 30000 */
  timeoutMs?: number;
}

/**
 * Runs nvidia-smi and returns its stdout. Translates failures at this edge: a missing binary,
 * a non-zero exit (9: driver not loaded; 6: query not supported; others) and a timeout become
 * `unavailable` / `deadline-exceeded` CacheonErrors that say what to do.
 */
export function runNvidiaSmi(args: string[], options: RunNvidiaSmiOptions = {}): Promise<string> {
  const path = options.nvidiaSmiPath ?? "nvidia-smi";
  const timeoutMs = options.timeoutMs ?? 30_000;
  const command = `${path} ${args.join(" ")}`;
  return new Promise((resolve, reject) => {
    execFile(
      path,
      args,
      {
        env: options.env as NodeJS.ProcessEnv | undefined,
        signal: options.signal,
        timeout: timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
        encoding: "utf8",
      },
      (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        const e = error as unknown as { code?: string | number; killed?: boolean; signal?: string };
        if (options.signal?.aborted) {
          return reject(new CacheonError("cancelled", `${command} was cancelled`, { cause: error }));
        }
        if (e.code === "ENOENT") {
          return reject(
            new CacheonError(
              "unavailable",
              `nvidia-smi not found ("${path}"): install the NVIDIA driver, or pass --nvidia-smi PATH`,
              { cause: error },
            ),
          );
        }
        if (e.code === "EACCES") {
          return reject(
            new CacheonError("unavailable", `${path} is not executable: check its permissions`, {
              cause: error,
            }),
          );
        }
        if (e.killed && e.signal === "SIGTERM") {
          return reject(
            new CacheonError(
              "deadline-exceeded",
              `${command} did not finish within ${timeoutMs} ms: the driver may be hung; check dmesg for Xid errors`,
              { cause: error },
            ),
          );
        }
        const said = `${stderr}`.trim().split("\n")[0] || `${stdout}`.trim().split("\n")[0] || "no output";
        reject(
          new CacheonError(
            "unavailable",
            `${command} failed with exit code ${e.code}: ${said}${e.code === 9 ? " (is the NVIDIA driver loaded?)" : ""}`,
            { cause: error },
          ),
        );
      },
    );
  });
}
