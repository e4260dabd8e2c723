import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type Docker from "dockerode";
import { pack } from "tar-stream";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import { behaviourFile, imageEnv, type SimImageSpec, simImageCatalog } from "./sim-image-catalog.ts";
import { readSimImageManifest, type SimImageManifest } from "./sim-image-manifest.ts";
import { appDir, collectRootfs, imageEntry, imageNode, type RootfsFile, rootfsHash } from "./sim-rootfs.ts";

/** Label on every image this build makes, so they can be found and removed. */
export const simImageLabel = "cacheon.sim-llm";
/** Repository path of the images in the registry. */
export const simImageRepository = "cacheon/sim-llm";
/** Bump when the way images are built changes, so old manifests stop counting as up to date. */
const builderVersion = "1";

/** Options of {@link buildSimImages}. */
export interface BuildSimImagesOptions {
  docker: Docker;
  /** Registry host:port to push to, e.g. 127.0.0.1:5000. */
  registry: string;
  /** Repository root (sources and node_modules). */
  root: string;
  /** Where the manifest is written. */
  manifestPath: string;
  /** Node binary to ship. @default the running one */
  node?: string;
  /** Rebuild even when the manifest says everything is up to date. @default false */
  force?: boolean;
  /** Images to build. @default simImageCatalog */
  catalog?: readonly SimImageSpec[];
  /** Called after each image is pushed, with how many are done of how many. */
  onProgress?: (done: number, total: number, name: string) => void;
  logger?: Logger;
  signal?: AbortSignal;
}

/** What {@link buildSimImages} did. */
export interface BuildSimImagesResult {
  manifest: SimImageManifest;
  /** False when the manifest was up to date and the registry still had every digest. */
  built: boolean;
}

/**
 * Builds one image per sim behaviour offline (FROM scratch: a root filesystem assembled from the
 * local Node binary, its libraries and the sim's sources), pushes them to the registry and writes a
 * manifest of name -> repo@sha256 digest. Does nothing when the inputs' hash equals the manifest's
 * and the registry still serves every digest.
 */
export async function buildSimImages(options: BuildSimImagesOptions): Promise<BuildSimImagesResult> {
  const logger = options.logger ?? silentLogger;
  const catalog = options.catalog ?? simImageCatalog;
  const files = collectRootfs({ root: options.root, ...(options.node ? { node: options.node } : {}) });
  const inputsHash = createHash("sha256")
    .update(builderVersion)
    .update(rootfsHash(files))
    .update(JSON.stringify(catalog))
    .update(options.registry)
    .digest("hex");
  const repository = `${options.registry}/${simImageRepository}`;

  if (!options.force) {
    const previous = readSimImageManifest(options.manifestPath, { optional: true });
    if (previous?.inputsHash === inputsHash && (await allInRegistry(options.registry, previous))) {
      logger.info("sim images are up to date", { manifest: options.manifestPath });
      return { manifest: previous, built: false };
    }
  }

  const baseTag = `cacheon-sim-llm-base:${inputsHash.slice(0, 16)}`;
  if (!(await imageExists(options.docker, baseTag))) {
    logger.info("building the base image", { files: files.length, tag: baseTag });
    await buildFromContext(options.docker, baseTag, baseContext(files), options.signal);
  }
  const manifest: SimImageManifest = {
    inputsHash,
    registry: options.registry,
    repository,
    builtAt: new Date().toISOString(),
    images: {},
  };
  const localTags = new Map<string, string>();
  let done = 0;
  for (const spec of catalog) {
    if (options.signal?.aborted) throw new CacheonError("cancelled", "building sim images was cancelled");
    const parent = spec.from ? localTags.get(spec.from) : baseTag;
    if (!parent) {
      throw new CacheonError(
        "invalid-config",
        `image ${spec.name} builds on ${spec.from}, which comes later or not at all`,
      );
    }
    const tag = `${repository}:${spec.name}`;
    await buildFromContext(options.docker, tag, behaviourContext(spec, parent), options.signal);
    localTags.set(spec.name, tag);
    const digest = await push(options.docker, tag, options.registry);
    manifest.images[spec.name] = {
      reference: `${repository}@${digest}`,
      tag,
      digest,
      description: spec.description,
      env: imageEnv(spec),
    };
    done += 1;
    options.onProgress?.(done, catalog.length, spec.name);
    logger.info("pushed sim image", { name: spec.name, digest });
  }
  mkdirSync(dirname(options.manifestPath), { recursive: true });
  writeFileSync(options.manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  await pruneOldSimImages(options.docker, baseTag, logger);
  return { manifest, built: true };
}

/**
 * Removes this build's earlier local images (only ones carrying {@link simImageLabel}): untagged
 * behaviour images, then base images other than `keepBase`. Failures are logged, never fatal.
 */
export async function pruneOldSimImages(docker: Docker, keepBase: string, logger: Logger): Promise<number> {
  let removed = 0;
  const remove = async (id: string) => {
    try {
      await docker.getImage(id).remove();
      removed += 1;
    } catch (error) {
      logger.debug("could not remove an old sim image", { id, error: error as Error });
    }
  };
  const dangling = await docker.listImages({ filters: { label: [simImageLabel], dangling: ["true"] } });
  for (const image of dangling) await remove(image.Id);
  const bases = await docker.listImages({ filters: { label: [`${simImageLabel}=base`] } });
  for (const image of bases) {
    if (!(image.RepoTags ?? []).includes(keepBase)) {
      for (const tag of image.RepoTags ?? []) await remove(tag);
    }
  }
  return removed;
}

type Entry = { name: string; content: Buffer | string; mode?: number };

function dockerfileOf(lines: string[]): string {
  return `${lines.join("\n")}\n`;
}

/** The base image: the root filesystem, nothing else. */
function baseContext(files: RootfsFile[]): Entry[] {
  const dockerfile = dockerfileOf([
    "FROM scratch",
    "COPY rootfs/ /",
    `LABEL ${simImageLabel}=base`,
    `WORKDIR ${appDir}`,
    "EXPOSE 8000",
    `ENTRYPOINT ["${imageNode}", "--disable-warning=ExperimentalWarning", "${imageEntry}"]`,
  ]);
  return [
    { name: "Dockerfile", content: dockerfile },
    { name: "rootfs/tmp/.keep", content: "", mode: 0o644 },
    { name: `rootfs${appDir}/package.json`, content: '{"type":"module","private":true}\n' },
    ...files.map((f) => ({ name: `rootfs${f.path}`, content: readFileSync(f.source), mode: f.mode })),
  ];
}

/** One behaviour on top of the base (or of another image). */
function behaviourContext(spec: SimImageSpec, parent: string): Entry[] {
  const lines = [`FROM ${parent}`];
  const entries: Entry[] = [];
  if (spec.extraFile) {
    lines.push(`COPY extra ${spec.extraFile.path}`);
    entries.push({ name: "extra", content: spec.extraFile.content });
  } else {
    lines.push("COPY behaviour.json /etc/cacheon-sim/behaviour.json");
    entries.push({ name: "behaviour.json", content: behaviourFile(spec) });
  }
  const env = Object.entries(imageEnv(spec)).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  lines.push(`ENV ${env.join(" ")}`);
  const labels = { [simImageLabel]: "behaviour", ...spec.label };
  lines.push(
    `LABEL ${Object.entries(labels)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(" ")}`,
  );
  return [{ name: "Dockerfile", content: dockerfileOf(lines) }, ...entries];
}

async function buildFromContext(
  docker: Docker,
  tag: string,
  entries: Entry[],
  signal?: AbortSignal,
): Promise<void> {
  const archive = pack();
  for (const e of entries) {
    // Fixed times and owners: equal content gives equal layers.
    archive.entry({ name: e.name, mode: e.mode ?? 0o644, mtime: new Date(0), uid: 0, gid: 0 }, e.content);
  }
  archive.finalize();
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.buildImage(archive as unknown as NodeJS.ReadableStream, {
      t: tag,
      rm: true,
      forcerm: true,
      ...(signal ? { abortSignal: signal } : {}),
    });
  } catch (error) {
    throw new CacheonError("unavailable", `docker build of ${tag} failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
  await followProgress(docker, stream, `docker build of ${tag}`);
}

async function push(docker: Docker, tag: string, registry: string): Promise<string> {
  let events: Array<Record<string, unknown>>;
  try {
    events = await followProgress(
      docker,
      await docker.getImage(tag).push({ authconfig: { serveraddress: registry } }),
      `docker push of ${tag}`,
    );
  } catch (error) {
    throw CacheonError.from(error, "unavailable");
  }
  const digest = events.map((e) => (e.aux as { Digest?: string } | undefined)?.Digest).find(Boolean);
  if (!digest)
    throw new CacheonError("unavailable", `docker push of ${tag} reported no digest; is ${registry} up?`);
  return digest;
}

/** Follows a Docker progress stream; an error inside the 200 stream is an error. */
function followProgress(
  docker: Docker,
  stream: NodeJS.ReadableStream,
  what: string,
): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(stream, (error: Error | null, output: Array<Record<string, unknown>>) => {
      const failed = output?.find((event) => event.error || event.errorDetail);
      if (error) reject(new CacheonError("unavailable", `${what} failed: ${error.message}`));
      else if (failed) {
        reject(
          new CacheonError(
            "unavailable",
            `${what} failed: ${String(failed.error ?? JSON.stringify(failed.errorDetail))}`,
          ),
        );
      } else resolve(output);
    });
  });
}

async function imageExists(docker: Docker, tag: string): Promise<boolean> {
  try {
    await docker.getImage(tag).inspect();
    return true;
  } catch {
    return false;
  }
}

/** True when the registry still serves every digest of the manifest. */
async function allInRegistry(registry: string, manifest: SimImageManifest): Promise<boolean> {
  const accept = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
  ].join(", ");
  for (const image of Object.values(manifest.images)) {
    try {
      const res = await fetch(`http://${registry}/v2/${simImageRepository}/manifests/${image.digest}`, {
        method: "HEAD",
        headers: { accept },
        signal: AbortSignal.timeout(10_000),
      });
      if (!res.ok) return false;
    } catch {
      return false;
    }
  }
  return true;
}
