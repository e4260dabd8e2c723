import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync, statSync } from "node:fs";
import { open, realpath } from "node:fs/promises";
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

/**
 * True when the file starts with an ELF header of an executable or shared object (e_type 2 or 3):
 * NVIDIA's nvidia-smi is one; a shell or Python wrapper in front of it is not. False for anything
 * unreadable.
 */
export async function isElfExecutable(path: string): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(path, "r");
    const header = Buffer.alloc(18);
    const { bytesRead } = await handle.read(header, 0, 18, 0);
    if (bytesRead < 18 || header.readUInt32BE(0) !== 0x7f454c46) return false;
    const littleEndian = header[5] === 1;
    const type = littleEndian ? header.readUInt16LE(16) : header.readUInt16BE(16);
    return type === 2 || type === 3;
  } catch {
    return false;
  } finally {
    await handle?.close();
  }
}

/** The version in `nv-fabricmanager --version` output ("Fabric Manager version is : 580.159.04"); "" when none. Pure. */
export function parseFabricManagerVersion(text: string): string {
  return /version\s*(?:is)?\s*:?\s*(\d+\.\d+(?:\.\d+)*)/i.exec(text)?.[1] ?? "";
}

/**
 * Fabric Manager's version on this machine: `nv-fabricmanager --version` found on PATH or in the
 * package's directories. "" when it is not installed here (a VM whose host runs it, a board
 * without NVSwitches) or does not answer within 10 s.
 */
export async function readFabricManagerVersion(env: Record<string, string | undefined>): Promise<string> {
  const path = await resolveExecutable("nv-fabricmanager", {
    PATH: [env.PATH, "/usr/bin", "/usr/sbin", "/usr/local/bin"].filter(Boolean).join(delimiter),
  });
  if (!path) return "";
  return new Promise((done) => {
    execFile(
      path,
      ["--version"],
      { env: { PATH: "/usr/bin:/bin" }, timeout: 10_000, encoding: "utf8" },
      (error, stdout, stderr) =>
        done(error && !stdout ? "" : parseFabricManagerVersion(`${stdout}\n${stderr}`)),
    );
  });
}
