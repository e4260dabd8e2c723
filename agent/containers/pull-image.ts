import { statfs } from "node:fs/promises";
import { create } from "@bufbuild/protobuf";
import type Docker from "dockerode";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type ImageMetadata, ImageMetadataSchema } from "../../shared/gen/cacheon/v1/image_pb.ts";
import { type PinnedImage, pullReference, repoDigestName } from "../../shared/image/image-reference.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import { dockerError } from "./docker-error.ts";
import { followProgress, type ProgressEvent } from "./follow-progress.ts";

/** Credentials for a private registry; sent to the engine only for the pull. */
export interface RegistryAuth {
  username: string;
  password: string;
  /** Registry host the credentials are for, e.g. "ghcr.io". */
  serveraddress: string;
}

/** Default cap on an image's unpacked size: 20 GB, as the subnet's rules set it. */
export const defaultMaxImageBytes = 20_000_000_000;

/** Options of {@link pullImage}. */
export interface PullImageOptions {
  /** Engine to pull with. */
  docker: Docker;
  /** Image to pull, pinned by digest (parse it with parseImageReference; tags alone are refused there). */
  image: PinnedImage;
  /** Largest unpacked size accepted, bytes; a larger image is removed and refused. @default 20 GB */
  maxBytes?: number;
  /**
   * Free bytes needed on the file system holding Docker's data before pulling. Skipped when the
   * data root is not visible to this process (the agent itself in a container). @default maxBytes
   */
  minFreeBytes?: number;
  /** Registry credentials, when the registry needs them. */
  auth?: RegistryAuth;
  /** Cancels the pull. */
  signal?: AbortSignal;
  /** Reports bytes downloaded so far and the known total (compressed layers). */
  onProgress?: (downloadedBytes: number, totalBytes: number) => void;
  logger?: Logger;
}

/**
 * Pulls an image by digest and returns what copy detection needs: config digest, layer diff ids,
 * size and every repo digest. An image already present is inspected, not pulled again.
 * Throws CacheonError: "invalid-argument" (no digest), "resource-exhausted" (too large, disk
 * full), "not-found"/"unavailable" (registry), "failed-precondition" (digest mismatch).
 */
export async function pullImage(options: PullImageOptions): Promise<ImageMetadata> {
  const { docker, image } = options;
  const logger = options.logger ?? silentLogger;
  const maxBytes = options.maxBytes ?? defaultMaxImageBytes;
  if (!/^sha256:[0-9a-f]{64}$/.test(image.digest)) {
    throw new CacheonError(
      "invalid-argument",
      `refusing to pull ${image.registry}/${image.repository} without a sha256 digest: pin it as repo@sha256:<64 hex>`,
    );
  }
  const ref = pullReference(image);
  const started = Date.now();
  let pulled = false;
  if (!(await isPresent(docker, ref))) {
    await checkFreeDisk(docker, options.minFreeBytes ?? maxBytes, ref, logger);
    await pullStream(options, ref, maxBytes);
    pulled = true;
  }
  const inspected = await docker
    .getImage(ref)
    .inspect()
    .catch((error: unknown) => {
      throw dockerError(error, `inspecting ${ref} after the pull`);
    });
  const expected = `${repoDigestName(image)}@${image.digest}`;
  const repoDigests = inspected.RepoDigests ?? [];
  if (!repoDigests.includes(expected)) {
    throw new CacheonError(
      "failed-precondition",
      `${ref}: after the pull the engine records ${JSON.stringify(repoDigests)}, not ${expected}; the registry served other content than the digest names — do not run it`,
    );
  }
  if (inspected.Size > maxBytes) {
    if (pulled)
      await docker
        .getImage(inspected.Id)
        .remove({ force: true })
        .catch(() => {});
    throw new CacheonError(
      "resource-exhausted",
      `${ref} is ${formatBytes(inspected.Size)} unpacked; the limit is ${formatBytes(maxBytes)}. Make the image smaller (model weights belong in the mounted /model directory, not in the image)`,
    );
  }
  const metadata = create(ImageMetadataSchema, {
    reference: { ...image },
    configDigest: inspected.Id,
    layerDiffIds: inspected.RootFS?.Layers ?? [],
    sizeBytes: BigInt(inspected.Size),
    repoDigests,
    pullSeconds: pulled ? (Date.now() - started) / 1000 : 0,
  });
  logger.info("image ready", { image: ref, pulled, bytes: inspected.Size, seconds: metadata.pullSeconds });
  return metadata;
}

async function isPresent(docker: Docker, ref: string): Promise<boolean> {
  try {
    await docker.getImage(ref).inspect();
    return true;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return false;
    throw dockerError(error, `looking up ${ref}`);
  }
}

async function pullStream(options: PullImageOptions, ref: string, maxBytes: number): Promise<void> {
  const { docker } = options;
  const auth = options.auth ? { authconfig: options.auth } : {};
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.pull(ref, auth);
  } catch (error) {
    throw dockerError(error, `pulling ${ref}`);
  }
  // Compressed layer sizes arrive in the progress events; refusing early saves the download.
  const totals = new Map<string, number>();
  const current = new Map<string, number>();
  let tooLarge: CacheonError | undefined;
  const onEvent = (event: ProgressEvent) => {
    if (event.status === "Downloading" && event.id && event.progressDetail) {
      if (event.progressDetail.total) totals.set(event.id, event.progressDetail.total);
      if (event.progressDetail.current) current.set(event.id, event.progressDetail.current);
      const total = sum(totals);
      options.onProgress?.(sum(current), total);
      if (total > maxBytes && !tooLarge) {
        tooLarge = new CacheonError(
          "resource-exhausted",
          `${ref}: its compressed layers alone are ${formatBytes(total)}, over the ${formatBytes(maxBytes)} limit; pull stopped`,
        );
        (stream as unknown as { destroy?: () => void }).destroy?.();
      }
    }
  };
  try {
    await followProgress(docker, stream, onEvent, options.signal);
  } catch (error) {
    if (tooLarge) throw tooLarge;
    const err = CacheonError.from(error, "unavailable");
    if (err.code === "cancelled") throw err;
    const notFound = /not found|manifest unknown|unknown blob|404/i.test(err.message);
    throw new CacheonError(
      notFound ? "not-found" : "unavailable",
      `pulling ${ref} failed: ${err.message}${notFound ? " (check the repository and digest; the image must be pushed and public or credentials given)" : " (check the registry is reachable; retry later)"}`,
      { cause: error },
    );
  }
  if (tooLarge) throw tooLarge;
}

async function checkFreeDisk(docker: Docker, needed: number, ref: string, logger: Logger): Promise<void> {
  let root: string;
  try {
    root = (await docker.info()).DockerRootDir as string;
  } catch (error) {
    throw dockerError(error, "reading the engine's data root");
  }
  let free: number;
  try {
    const fs = await statfs(root);
    free = fs.bavail * fs.bsize;
  } catch {
    logger.warn("cannot see Docker's data root; free-disk check skipped", { root });
    return;
  }
  if (free < needed) {
    throw new CacheonError(
      "resource-exhausted",
      `not pulling ${ref}: ${formatBytes(free)} free under ${root}, ${formatBytes(needed)} needed; remove unused images (docker image prune) or grow the disk`,
    );
  }
}

function sum(values: Map<string, number>): number {
  let total = 0;
  for (const v of values.values()) total += v;
  return total;
}

/** Bytes as "1.23 GB" (decimal units, as registries and limits are written). */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes} B`;
}
