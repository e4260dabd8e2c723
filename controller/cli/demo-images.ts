import { join } from "node:path";
import type Docker from "dockerode";
import { pack } from "tar-stream";
import { followProgress } from "../../agent/containers/follow-progress.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import { buildSimImages } from "../../sim-llm/images/build-sim-images.ts";
import type { SimImageManifest } from "../../sim-llm/images/sim-image-manifest.ts";

/** Label on every image the demo builds itself, so they can be found and removed. */
export const demoImageLabel = "cacheon.demo";

/** Options of {@link prepareDemoImages}. */
export interface DemoImagesOptions {
  docker: Docker;
  /** Registry host:port the images are pushed to. */
  registry: string;
  /** Repository root (the sim images are built from its sources). */
  root: string;
  /** The sim image behind the leader, whose relabelled copy a miner submits. @default "faster" */
  leaderImage?: string;
  /** Called after each sim image is up to date, with how many are done of how many. */
  onProgress?: (done: number, total: number, name: string) => void;
  logger?: Logger;
  signal?: AbortSignal;
}

/** The pinned references the demo's miners and baseline use. */
export interface DemoImages {
  manifest: SimImageManifest;
  /** Sim image name -> `registry/cacheon/sim-llm:NAME@sha256:...` (tag kept for readability). */
  ref(name: string): string;
  /** The leader's content under another repository, differing only in a label. */
  copyOfLeader: string;
}

/**
 * Builds (or finds up to date) the sim-llm images in the registry, then a copy of the leader's
 * image that differs only in a label, pushed under another repository: what a miner who re-tags
 * someone else's image submits. Its layers equal the original's, its digest does not.
 */
export async function prepareDemoImages(options: DemoImagesOptions): Promise<DemoImages> {
  const { docker, registry } = options;
  const { manifest } = await buildSimImages({
    docker,
    registry,
    root: options.root,
    manifestPath: join(options.root, ".cacheon", "sim-images.json"),
    onProgress: options.onProgress,
    logger: options.logger ?? silentLogger,
    signal: options.signal,
  });
  const ref = (name: string) => {
    const entry = manifest.images[name];
    if (!entry)
      throw new CacheonError(
        "not-found",
        `the sim image "${name}" is not in .cacheon/sim-images.json; rebuild it with scripts/build-sim-images --force`,
      );
    return `${manifest.repository}:${name}@${entry.digest}`;
  };
  const leader = options.leaderImage ?? "faster";
  // By digest: the tag is shared with every other build on this engine and registry (another
  // checkout's sources may have replaced it since), the digest is the leader's image itself.
  const entry = manifest.images[leader];
  if (!entry) ref(leader);
  const source = `${manifest.repository}@${entry?.digest}`;
  const copyTag = `${registry}/cacheon/demo-copy:${leader}-rebranded`;
  await buildImage(
    docker,
    copyTag,
    `FROM ${source}\nLABEL ${demoImageLabel}="copy-of-${leader}" org.example.rebranded="yes"\n`,
    options.signal,
  );
  const digest = await pushImage(docker, copyTag, registry);
  return { manifest, ref, copyOfLeader: `${copyTag}@${digest}` };
}

/** Builds an image from a Dockerfile alone (no other context). */
async function buildImage(docker: Docker, tag: string, dockerfile: string, signal?: AbortSignal) {
  const archive = pack();
  archive.entry({ name: "Dockerfile", mode: 0o644, mtime: new Date(0) }, dockerfile);
  archive.finalize();
  try {
    const stream = await docker.buildImage(archive as unknown as NodeJS.ReadableStream, {
      t: tag,
      rm: true,
      forcerm: true,
      labels: { [demoImageLabel]: "copy" },
      ...(signal ? { abortSignal: signal } : {}),
    });
    await followProgress(docker, stream, undefined, signal);
  } catch (error) {
    throw new CacheonError("unavailable", `docker build of ${tag} failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

async function pushImage(docker: Docker, tag: string, registry: string): Promise<string> {
  let events: Record<string, unknown>[];
  try {
    events = await followProgress(
      docker,
      await docker.getImage(tag).push({ authconfig: { serveraddress: registry } }),
    );
  } catch (error) {
    throw new CacheonError("unavailable", `docker push of ${tag} failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const digest = events.map((e) => (e.aux as { Digest?: string } | undefined)?.Digest).find(Boolean);
  if (!digest)
    throw new CacheonError(
      "unavailable",
      `docker push of ${tag} reported no digest; is the registry ${registry} up? (scripts/test-env start)`,
    );
  return digest;
}
