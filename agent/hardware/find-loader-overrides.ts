import { posix } from "node:path";

/** One way the dynamic loader was told to load code other than the system's. */
export interface LoaderOverride {
  /** The variable name, or "/etc/ld.so.preload". */
  variable: string;
  /** Its value (or the preload file's entries). */
  value: string;
  /** Why it is refused. */
  reason: string;
}

/** Options of {@link findLoaderOverrides}. */
export interface FindLoaderOverridesOptions {
  /** The environment nvidia-smi would inherit. */
  env: Record<string, string | undefined>;
  /** Contents of /etc/ld.so.preload; undefined when the file does not exist. */
  preloadFile?: string | undefined;
  /** Directories LD_LIBRARY_PATH may name besides {@link standardLibraryDirs}. @default [] */
  trustedLibraryDirs?: readonly string[];
}

/**
 * Directories LD_LIBRARY_PATH may name without suspicion: the system's library directories and
 * where the NVIDIA container toolkit and CUDA images put the driver and toolkit libraries
 * (`LD_LIBRARY_PATH=/usr/local/nvidia/lib64:/usr/local/nvidia/lib` was seen on a real H200 machine).
 */
export const standardLibraryDirs: readonly string[] = [
  "/lib",
  "/lib64",
  "/usr/lib",
  "/usr/lib64",
  "/usr/local/lib",
  "/usr/local/nvidia",
  "/usr/local/cuda",
];

/**
 * Variables that make glibc's loader run code of the setter's choosing inside nvidia-smi and
 * NVML, which is how a rented machine fakes its GPUs (a preloaded library answers NVML calls
 * with an H200's name, UUIDs, link speeds). Refused whenever they are set to anything:
 * LD_PRELOAD (libraries loaded first), LD_AUDIT (audit libraries that see and can redirect
 * every symbol binding), LD_PROFILE (loads profiling for a named library). LD_LIBRARY_PATH is
 * ordinary in GPU containers, so only directories outside the standard and trusted ones, and
 * empty entries (which mean the current directory), are refused. Variables that only change
 * diagnostics (LD_DEBUG) or binding time (LD_BIND_NOW) cannot inject code and are let through.
 */
const alwaysRefused: Record<string, string> = {
  LD_PRELOAD: "loads the named libraries into every program first, so they can answer NVML calls",
  LD_AUDIT: "loads audit libraries that see and can redirect every symbol the program binds",
  LD_PROFILE: "makes the loader profile a named shared object",
};

/** Every loader override in the environment and /etc/ld.so.preload. Pure. */
export function findLoaderOverrides(options: FindLoaderOverridesOptions): LoaderOverride[] {
  const found: LoaderOverride[] = [];
  for (const [variable, reason] of Object.entries(alwaysRefused)) {
    const value = options.env[variable];
    if (value !== undefined && value.trim() !== "") found.push({ variable, value, reason });
  }
  const libraryPath = options.env.LD_LIBRARY_PATH;
  if (libraryPath !== undefined && libraryPath !== "") {
    const trusted = [...standardLibraryDirs, ...(options.trustedLibraryDirs ?? [])].map(trimSlash);
    const bad = libraryPath.split(":").filter((dir) => !isTrustedDir(dir, trusted));
    if (bad.length > 0) {
      found.push({
        variable: "LD_LIBRARY_PATH",
        value: libraryPath,
        reason: `names ${bad.map((d) => (d === "" ? "an empty entry (the current directory)" : `"${d}"`)).join(", ")}, outside the system and NVIDIA library directories, where a different libnvidia-ml.so.1 could be found first`,
      });
    }
  }
  // glibc reads whitespace- or colon-separated paths; "#" starts a comment to the end of the line.
  const preloads = (options.preloadFile ?? "")
    .split(/\r?\n/)
    .flatMap((line) => (line.split("#")[0] ?? "").split(/[\s:]+/))
    .filter((entry) => entry !== "");
  if (preloads.length > 0) {
    found.push({
      variable: "/etc/ld.so.preload",
      value: preloads.join(" "),
      reason: "the system-wide preload list loads these libraries into every program",
    });
  }
  return found;
}

function trimSlash(dir: string): string {
  return dir.length > 1 ? dir.replace(/\/+$/, "") : dir;
}

function isTrustedDir(dir: string, trusted: string[]): boolean {
  if (!dir.startsWith("/")) return false;
  const normal = trimSlash(posix.normalize(dir));
  return trusted.some((root) => normal === root || normal.startsWith(`${root}/`));
}
