import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";

/** A file of the image's root filesystem. */
export interface RootfsFile {
  /** Absolute path inside the image. */
  path: string;
  /** Where it comes from on this machine. */
  source: string;
  mode: number;
}

/** Where the program runs from inside the image. */
export const appDir = "/app";
/** The Node binary inside the image. */
export const imageNode = "/usr/local/bin/node";
/** The program's entry inside the image. */
export const imageEntry = `${appDir}/sim-llm/cli/main.ts`;

/** Options of {@link collectRootfs}. */
export interface CollectRootfsOptions {
  /** Repository root. */
  root: string;
  /** Node binary to ship (24 or newer). @default the running one */
  node?: string;
}

/**
 * The files of a minimal image that runs the sim: a Node binary with the shared libraries `ldd`
 * lists (and the dynamic loader), the sim's TypeScript sources found by following imports from
 * its CLI (Node runs them by type stripping), and the npm packages they import.
 */
export function collectRootfs(options: CollectRootfsOptions): RootfsFile[] {
  const node = realpathSync(options.node ?? process.execPath);
  const files: RootfsFile[] = [{ path: imageNode, source: node, mode: 0o755 }];
  for (const lib of sharedLibraries(node)) files.push({ path: lib.path, source: lib.source, mode: 0o755 });
  const { sources, packages, dataFiles } = importGraph(
    options.root,
    join(options.root, "sim-llm", "cli", "main.ts"),
  );
  for (const source of sources) {
    files.push({ path: `${appDir}/${relative(options.root, source)}`, source, mode: 0o644 });
  }
  for (const pkg of closePackages(options.root, packages)) {
    const dir = join(options.root, "node_modules", pkg);
    for (const source of walk(dir)) {
      files.push({ path: `${appDir}/${relative(options.root, source)}`, source, mode: 0o644 });
    }
  }
  // Packages used only for a data file (Qwen's tokenizer.json): that file and the package's
  // manifest (its exports map resolves the import), not the rest of the package.
  for (const [pkg, subpaths] of Object.entries(dataFiles)) {
    if (packages.includes(pkg)) continue;
    for (const sub of ["package.json", ...subpaths]) {
      const source = join(options.root, "node_modules", pkg, sub);
      files.push({ path: `${appDir}/${relative(options.root, source)}`, source, mode: 0o644 });
    }
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** The libraries a binary loads, from `ldd`, with the loader at its own path. */
export function sharedLibraries(binary: string): Array<{ path: string; source: string }> {
  let out: string;
  try {
    out = execFileSync("ldd", [binary], { encoding: "utf8" });
  } catch (error) {
    throw new CacheonError(
      "unavailable",
      `ldd ${binary} failed (${(error as Error).message}); install libc-bin`,
    );
  }
  return parseLdd(out).map((path) => ({ path, source: realpathSync(path) }));
}

/** Paths of the libraries in `ldd` output (the vDSO has none). */
export function parseLdd(output: string): string[] {
  const paths: string[] = [];
  for (const line of output.split("\n")) {
    const arrow = /=>\s+(\/\S+)/.exec(line);
    const bare = /^\s*(\/\S+)\s+\(/.exec(line);
    const path = arrow?.[1] ?? bare?.[1];
    if (path) paths.push(path);
    else if (/not found/.test(line)) {
      throw new CacheonError(
        "failed-precondition",
        `the Node binary needs a library that is missing: ${line.trim()}`,
      );
    }
  }
  return paths;
}

const importPattern = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"|import\(\s*"([^"]+)"\s*\)/g;

/**
 * Every source file reachable by imports from `entry`, the npm packages they import code from, and
 * the JSON files they import from packages (by package, subpaths inside it).
 */
export function importGraph(
  root: string,
  entry: string,
): { sources: string[]; packages: string[]; dataFiles: Record<string, string[]> } {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const dataFiles: Record<string, string[]> = {};
  const stack = [entry];
  while (stack.length > 0) {
    const file = stack.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(importPattern)) {
      const spec = match[1] ?? match[2] ?? "";
      if (spec.startsWith("node:")) continue;
      if (spec.startsWith(".")) {
        const target = resolve(dirname(file), spec);
        if (!existsSync(target)) {
          throw new CacheonError("internal", `${relative(root, file)} imports ${spec}, which does not exist`);
        }
        stack.push(target);
      } else {
        const parts = spec.split("/");
        const pkg = spec.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? spec);
        const sub = spec.slice(pkg.length + 1);
        if (sub.endsWith(".json")) dataFiles[pkg] = [...(dataFiles[pkg] ?? []), sub];
        else packages.add(pkg);
      }
    }
  }
  return { sources: [...seen].sort(), packages: [...packages].sort(), dataFiles };
}

/** The packages and, transitively, their dependencies. */
function closePackages(root: string, packages: string[]): string[] {
  const out = new Set<string>();
  const stack = [...packages];
  while (stack.length > 0) {
    const pkg = stack.pop() as string;
    if (out.has(pkg)) continue;
    const manifest = join(root, "node_modules", pkg, "package.json");
    if (!existsSync(manifest)) {
      throw new CacheonError("failed-precondition", `package ${pkg} is not installed; run scripts/setup.sh`);
    }
    out.add(pkg);
    const deps = (JSON.parse(readFileSync(manifest, "utf8")) as { dependencies?: Record<string, string> })
      .dependencies;
    stack.push(...Object.keys(deps ?? {}));
  }
  return [...out].sort();
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(path));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** A hash of every file's path, mode and content: equal hashes mean an equal root filesystem. */
export function rootfsHash(files: readonly RootfsFile[]): string {
  const hash = createHash("sha256");
  for (const f of files) {
    hash.update(`${f.path}\0${f.mode}\0${statSync(f.source).size}\0`);
    hash.update(readFileSync(f.source));
  }
  return hash.digest("hex");
}
