import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync, statSync } from "node:fs";
import { realpath } from "node:fs/promises";
import { delimiter, isAbsolute, join, resolve } from "node:path";

/** One line of `ldconfig -p`: `libnvidia-ml.so.1 (libc6,x86-64) => /usr/lib/...`. */
export interface LdconfigEntry {
  name: string;
  flags: string;
  path: string;
}

/** Parses `ldconfig -p` output. Pure; lines that do not look like entries are skipped. */
export function parseLdconfigCache(text: string): LdconfigEntry[] {
  const entries: LdconfigEntry[] = [];
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S+)\s*$/.exec(line);
    if (match?.[1] && match[2] !== undefined && match[3]) {
      entries.push({ name: match[1], flags: match[2], path: match[3] });
    }
  }
  return entries;
}

/** ldconfig's flag naming this process's architecture ("x86-64", "AArch64"). */
export function ldconfigArchFlag(arch: string = process.arch): string {
  return arch === "arm64" ? "AArch64" : arch === "x64" ? "x86-64" : arch;
}

/** Options of {@link resolveNvmlLibrary}. */
export interface ResolveNvmlLibraryOptions {
  /** The environment nvidia-smi runs with (its LD_LIBRARY_PATH is searched first). */
  env: Record<string, string | undefined>;
  /** `ldconfig -p` output; read from ldconfig when undefined. */
  ldconfigOutput?: string;
  /** Library name. @default "libnvidia-ml.so.1" */
  library?: string;
}

/**
 * Where the dynamic loader would find libnvidia-ml.so.1 for nvidia-smi, in glibc's order:
 * LD_LIBRARY_PATH, then the ld.so.cache (`ldconfig -p`, first entry of this architecture),
 * then the default directories. Chosen over reading /proc/PID/maps of a running nvidia-smi:
 * that needs a long-running nvidia-smi to race against, fails where /proc is restricted, and
 * nvidia-smi dlopens NVML late; on the real H200 machine both ways gave the same file
 * (test/fixtures/nvidia-smi/h200-x2-firecracker/fingerprint.txt). Returns "" when not found.
 */
export async function resolveNvmlLibrary(options: ResolveNvmlLibraryOptions): Promise<string> {
  const library = options.library ?? "libnvidia-ml.so.1";
  for (const dir of (options.env.LD_LIBRARY_PATH ?? "").split(":")) {
    if (dir && existsSync(join(dir, library))) return realpath(join(dir, library));
  }
  const cache = options.ldconfigOutput ?? (await readLdconfig());
  const arch = ldconfigArchFlag();
  const entry = parseLdconfigCache(cache).find(
    (e) => e.name === library && (e.flags.includes(arch) || !/x86-64|AArch64/.test(e.flags)),
  );
  if (entry && existsSync(entry.path)) return realpath(entry.path);
  for (const dir of [
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
  ]) {
    if (existsSync(join(dir, library))) return realpath(join(dir, library));
  }
  return "";
}

function readLdconfig(): Promise<string> {
  return new Promise((done) => {
    execFile(
      "ldconfig",
      ["-p"],
      { env: { PATH: "/usr/sbin:/sbin:/usr/bin:/bin" }, timeout: 10_000, encoding: "utf8" },
      (error, stdout) => done(error ? "" : stdout),
    );
  });
}

/**
 * The absolute, symlink-free path of the program `nameOrPath` runs: a path is taken as given,
 * a bare name is looked up on PATH as execvp does. Undefined when there is no such file.
 */
export async function resolveExecutable(
  nameOrPath: string,
  env: Record<string, string | undefined>,
): Promise<string | undefined> {
  if (nameOrPath.includes("/")) {
    const full = isAbsolute(nameOrPath) ? nameOrPath : resolve(nameOrPath);
    return existsSync(full) ? realpath(full) : undefined;
  }
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    const candidate = join(dir || ".", nameOrPath);
    try {
      if (statSync(candidate).isFile()) return realpath(candidate);
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** sha256 of a file, hex. */
export function sha256File(path: string): Promise<string> {
  return new Promise((done, fail) => {
    const hash = createHash("sha256");
    createReadStream(path)
      .on("error", fail)
      .on("data", (chunk) => hash.update(chunk))
      .on("end", () => done(hash.digest("hex")));
  });
}
