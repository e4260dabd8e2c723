import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";

/** The Python programs the agent runs on GPUs; their sources live in agent/hardware/gpu-scripts/. */
export const gpuScriptNames = ["gpu_copy_bandwidth.py", "nccl_all_reduce.py"] as const;

/** One of {@link gpuScriptNames}. */
export type GpuScriptName = (typeof gpuScriptNames)[number];

// The bundle (bundle/build-agent-bundle.ts) defines this identifier as the scripts' text in base64,
// so a pod that downloaded only the bundle has them; from a checkout it is undefined and the files
// are read.
declare const CACHEON_EMBEDDED_GPU_SCRIPTS: Partial<Record<string, string>> | undefined;

/** Folder of the scripts' sources in a checkout, from the source tree or from a built dist/. */
export function gpuScriptsDir(): string {
  const candidates = [
    join(import.meta.dirname, "gpu-scripts"),
    join(import.meta.dirname, "..", "..", "..", "agent", "hardware", "gpu-scripts"),
  ];
  const found = candidates.find((dir) => existsSync(join(dir, gpuScriptNames[0])));
  if (!found) {
    throw new CacheonError(
      "internal",
      `the GPU scripts are neither in this bundle nor in ${candidates.join(" or ")}: rebuild the bundle with scripts/build-agent-bundle`,
    );
  }
  return found;
}

/** The text of one script: embedded in the bundle, or read from the checkout. */
export function gpuScriptText(name: GpuScriptName): string {
  if (typeof CACHEON_EMBEDDED_GPU_SCRIPTS !== "undefined") {
    const base64 = CACHEON_EMBEDDED_GPU_SCRIPTS[name];
    if (base64 === undefined) {
      throw new CacheonError(
        "internal",
        `the agent bundle lacks ${name}: rebuild it with scripts/build-agent-bundle`,
      );
    }
    return Buffer.from(base64, "base64").toString("utf8");
  }
  return readFileSync(join(gpuScriptsDir(), name), "utf8");
}

/** Scripts written to a private folder for one run; `remove` deletes the folder. */
export interface WrittenGpuScripts {
  /** The folder, mode 0700, under the system's temporary directory. */
  dir: string;
  /** Absolute path of a script in the folder. */
  path(name: GpuScriptName): string;
  remove(): Promise<void>;
}

/**
 * Writes every script to a fresh folder only this user can read (a pod's other users cannot swap a
 * script between writing and running), for a Python on this machine to run by path.
 */
export async function writeGpuScripts(): Promise<WrittenGpuScripts> {
  const dir = await mkdtemp(join(tmpdir(), "cacheon-gpu-scripts-"));
  try {
    await chmod(dir, 0o700);
    for (const name of gpuScriptNames) await writeFile(join(dir, name), gpuScriptText(name), { mode: 0o600 });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new CacheonError(
      "internal",
      `could not write the GPU scripts to ${dir}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return {
    dir,
    path: (name) => join(dir, name),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * A `python3 -c` program that writes the script passed in the environment variable
 * CACHEON_GPU_SCRIPT to a private temporary file and execs it with the remaining arguments, so a
 * container runs a script that spawns workers of itself (the all-reduce) without any mount.
 */
export const pythonScriptBootstrap = [
  "import os, sys, tempfile",
  "d = tempfile.mkdtemp(prefix='cacheon-gpu-')",
  "p = os.path.join(d, sys.argv[1])",
  "f = open(p, 'w'); f.write(os.environ.pop('CACHEON_GPU_SCRIPT')); f.close()",
  "os.execv(sys.executable, [sys.executable, p] + sys.argv[2:])",
].join("\n");
