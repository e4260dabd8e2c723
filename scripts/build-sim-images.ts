import { join } from "node:path";
import { parseArgs } from "node:util";
import Docker from "dockerode";
import { ExitCode } from "../shared/cli/cli-command.ts";
import { createProgressBar } from "../shared/cli/progress-bar.ts";
import { CacheonError } from "../shared/errors/cacheon-error.ts";
import { createLogger } from "../shared/log/logger.ts";
import { buildSimImages } from "../sim-llm/images/build-sim-images.ts";
import { simImageCatalog } from "../sim-llm/images/sim-image-catalog.ts";

const root = join(import.meta.dirname, "..");
const help = `build-sim-images: builds one Docker image per sim-llm behaviour offline (FROM scratch, from the
local Node binary and its libraries), pushes them to a registry and writes a manifest of
name -> repo@sha256:digest. Does nothing when nothing changed and the registry still has them.

Usage: scripts/build-sim-images [--registry HOST:PORT] [--manifest FILE] [--force] [--json]

Options:
  --registry HOST:PORT  registry to push to (default $CACHEON_TEST_REGISTRY or 127.0.0.1:5000)
  --manifest FILE       manifest to write (default .cacheon/sim-images.json)
  --docker-socket PATH  Docker engine socket (default $CACHEON_TEST_DOCKER_SOCKET or /var/run/docker.sock)
  --force               rebuild and push even when up to date
  --json                print the manifest as JSON on stdout
  -h, --help            this text

Images: ${simImageCatalog.map((s) => s.name).join(", ")}.

Exit codes: 0 built or up to date, 2 bad flags or Docker/registry unavailable, 1 other failure.
`;

async function main(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        registry: { type: "string" },
        manifest: { type: "string" },
        "docker-socket": { type: "string" },
        force: { type: "boolean" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }).values;
  } catch (error) {
    process.stderr.write(
      `build-sim-images: ${(error as Error).message}\nRun \`scripts/build-sim-images --help\`.\n`,
    );
    return ExitCode.usage;
  }
  if (values.help) {
    process.stdout.write(help);
    return ExitCode.ok;
  }
  const registry =
    (values.registry as string | undefined) ?? process.env.CACHEON_TEST_REGISTRY ?? "127.0.0.1:5000";
  const manifestPath = (values.manifest as string | undefined) ?? join(root, ".cacheon", "sim-images.json");
  const socketPath =
    (values["docker-socket"] as string | undefined) ??
    process.env.CACHEON_TEST_DOCKER_SOCKET ??
    "/var/run/docker.sock";
  const json = Boolean(values.json);
  const bar = createProgressBar({
    label: "sim images",
    total: simImageCatalog.length,
    stream: process.stderr,
  });
  const controller = new AbortController();
  process.once("SIGINT", () => controller.abort());
  process.once("SIGTERM", () => controller.abort());
  try {
    const { manifest, built } = await buildSimImages({
      docker: new Docker({ socketPath }),
      registry,
      root,
      manifestPath,
      force: Boolean(values.force),
      logger: createLogger({ level: json ? "warn" : "info", fields: { program: "build-sim-images" } }),
      onProgress: (done, _total, name) => bar.update(done, name),
      signal: controller.signal,
    });
    if (built) bar.finish("pushed");
    if (json) process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
    else {
      process.stdout.write(
        `${built ? "built and pushed" : "up to date:"} ${Object.keys(manifest.images).length} images; manifest ${manifestPath}\n`,
      );
      for (const [name, image] of Object.entries(manifest.images))
        process.stdout.write(`  ${name.padEnd(20)} ${image.reference}\n`);
    }
    return ExitCode.ok;
  } catch (error) {
    const err = CacheonError.from(error);
    process.stderr.write(`build-sim-images: ${err.message}\n`);
    return err.code === "unavailable" || err.code === "invalid-config" || err.code === "failed-precondition"
      ? ExitCode.usage
      : ExitCode.negative;
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
