import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { gpuScriptNames } from "../agent/hardware/gpu-scripts.ts";
import { CacheonError } from "../shared/errors/cacheon-error.ts";

// Why esbuild (pinned): a pod needs the agent and only what it imports. A tar of dist/ plus
// node_modules/ would carry every dependency of the controller too (@polkadot, the AWS SDK, ...),
// hundreds of MB and thousands of files whose order and mtimes make a stable sha256 awkward.
// esbuild emits one ESM file of only the reachable code, deterministically for the same inputs,
// in well under a second, and the pod runs it with `node cacheon-agent.mjs`.
// What the agent runs besides JavaScript (the Python GPU scripts of agent/hardware/gpu-scripts/) goes
// in base64 through a define, so the one downloaded file is all a pod needs.

/** Options of {@link buildAgentBundle}. */
export interface BuildAgentBundleOptions {
  /** Directory the bundle and its .sha256 are written to. */
  outDir: string;
  /** Repository root holding agent/cli/main.ts. @default the checkout this file is in */
  root?: string;
}

/** What was built. */
export interface AgentBundle {
  /** Path of the bundle, `<outDir>/cacheon-agent.mjs`. */
  file: string;
  /** Path of `<file>.sha256`, in `sha256sum` format. */
  sha256File: string;
  sha256: string;
  bytes: number;
  /** Source files that went in. */
  inputs: number;
  /** Files embedded as text (the GPU scripts), by name. */
  embedded: string[];
}

const bundleName = "cacheon-agent.mjs";

// ESM output still contains CommonJS dependencies that call require() on Node built-ins and read
// __dirname/__filename (which ESM lacks); the banner gives them the bundle's own.
const banner = `// cacheon-agent bundle: run with Node >= 24 (node ${bundleName} --help).
import { createRequire as __cacheonCreateRequire } from "node:module";
const require = __cacheonCreateRequire(import.meta.url);
const __filename = import.meta.filename;
const __dirname = import.meta.dirname;
if (Number(process.versions.node.split(".")[0]) < 24) {
  console.error("cacheon-agent needs Node >= 24 (this is " + process.version + ")");
  process.exit(2);
}`;

/**
 * Builds the agent into one self-contained file and publishes its sha256 beside it. The same
 * sources and dependency versions give the same bytes: no timestamps, no absolute paths.
 */
export async function buildAgentBundle(options: BuildAgentBundleOptions): Promise<AgentBundle> {
  const root = resolve(options.root ?? join(import.meta.dirname, ".."));
  const scripts = Object.fromEntries(
    gpuScriptNames.map((name) => [
      name,
      // base64: the text then reaches the output byte for byte, whatever quoting esbuild picks.
      readFileSync(join(root, "agent", "hardware", "gpu-scripts", name)).toString("base64"),
    ]),
  );
  const version = buildVersion(root);
  let result: Awaited<ReturnType<typeof build>>;
  try {
    result = await build({
      entryPoints: [join(root, "agent", "cli", "main.ts")],
      absWorkingDir: root,
      bundle: true,
      platform: "node",
      target: "node24",
      format: "esm",
      outfile: join(options.outDir, bundleName),
      write: false,
      metafile: true,
      banner: { js: banner },
      define: {
        CACHEON_EMBEDDED_GPU_SCRIPTS: JSON.stringify(scripts),
        // The version the agent reports in enrolment and Hello (agent/cli/agent-version.ts).
        CACHEON_AGENT_VERSION: JSON.stringify(version),
      },
      // Native add-ons are optional in their packages (ssh2's crypto, cpu-features): loaded inside
      // try/catch, so leaving them out makes those packages use their JavaScript fallbacks.
      external: ["*.node", "cpu-features"],
      legalComments: "eof",
      charset: "utf8",
      logLevel: "silent",
    });
  } catch (error) {
    throw new CacheonError("internal", `could not bundle the agent: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const output = result.outputFiles?.[0];
  if (!output) throw new CacheonError("internal", "esbuild produced no output for the agent bundle");
  const text = Buffer.from(output.contents);
  if (text.includes(root)) {
    throw new CacheonError(
      "internal",
      `the agent bundle contains the absolute path ${root}; it would differ between checkouts`,
    );
  }
  // The define lands only where the agent's code reads it: check that each script is in the output.
  for (const [name, base64] of Object.entries(scripts)) {
    if (!text.includes(base64)) {
      throw new CacheonError(
        "internal",
        `the agent bundle does not contain ${name}: check how agent/hardware/gpu-scripts.ts reads CACHEON_EMBEDDED_GPU_SCRIPTS`,
      );
    }
  }
  if (!text.includes(JSON.stringify(version))) {
    throw new CacheonError(
      "internal",
      `the agent bundle does not carry its version ${version}: check how agent/cli/agent-version.ts reads CACHEON_AGENT_VERSION`,
    );
  }
  mkdirSync(options.outDir, { recursive: true });
  const file = join(options.outDir, bundleName);
  writeFileSync(file, text, { mode: 0o755 });
  const sha256 = createHash("sha256").update(text).digest("hex");
  const sha256File = `${file}.sha256`;
  writeFileSync(sha256File, `${sha256}  ${bundleName}\n`);
  return {
    file,
    sha256File,
    sha256,
    bytes: text.length,
    inputs: Object.keys(result.metafile?.inputs ?? {}).length,
    embedded: Object.keys(scripts),
  };
}

/**
 * The version a bundle is built as: package.json's, with the commit as semver build metadata when
 * the checkout is a git repository ("0.1.0+g1a2b3c4d5e6f"); the same commit gives the same bytes.
 */
export function buildVersion(root: string): string {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  try {
    const commit = execFileSync("git", ["-C", root, "rev-parse", "--short=12", "HEAD"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
    return /^[0-9a-f]{7,40}$/.test(commit) ? `${pkg.version}+g${commit}` : pkg.version;
  } catch {
    return pkg.version;
  }
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const json = args.includes("--json");
  if (args.includes("--help")) {
    process.stdout.write(`Usage: scripts/build-agent-bundle [--out DIR] [--json]

Builds the agent into one file, DIR/${bundleName} (default DIR: dist/bundle), and writes its
sha256 beside it (${bundleName}.sha256, sha256sum format). Publish both; pass the URL and the
sha256 to \`cacheon-controller cloud-init --bundle-url URL --bundle-sha256 HEX\`.
Exit codes: 0 built, 1 the build failed, 2 usage error.
`);
    process.exit(0);
  }
  const outIndex = args.indexOf("--out");
  const unknown = args.filter((a, i) => !["--json", "--out"].includes(a) && i !== outIndex + 1);
  if (unknown.length || (outIndex >= 0 && !args[outIndex + 1])) {
    process.stderr.write(
      `build-agent-bundle: unexpected ${unknown.join(" ") || "--out without DIR"}; see --help\n`,
    );
    process.exit(2);
  }
  const outDir =
    outIndex >= 0 ? String(args[outIndex + 1]) : join(import.meta.dirname, "..", "dist", "bundle");
  try {
    const bundle = await buildAgentBundle({ outDir });
    process.stdout.write(
      json
        ? `${JSON.stringify(bundle)}\n`
        : `${bundle.file} (${bundle.bytes} bytes, ${bundle.inputs} inputs)\nsha256 ${bundle.sha256}\n`,
    );
  } catch (error) {
    process.stderr.write(`build-agent-bundle: ${(error as Error).message}\n`);
    process.exit(1);
  }
}
