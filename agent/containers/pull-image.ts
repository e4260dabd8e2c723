import { statfs } from "node:fs/promises";
import { create } from "@bufbuild/protobuf";
import type Docker from "dockerode";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type ImageMetadata, ImageMetadataSchema } from "../../shared/gen/cacheon/v1/image_pb.ts";
import { type PinnedImage, pullReference, repoDigestName } from "../../shared/image/image-reference.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import { formatBytes } from "../../shared/text/format-bytes.ts";
import { dockerError } from "./docker-error.ts";
import { followProgress, type ProgressEvent } from "./follow-progress.ts";
import { PodFault } from "./pod-fault.ts";
import { openRegistryGate, type RegistryGate } from "./registry-gate.ts";

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
  /**
   * Pull through a registry gate on loopback (registry-gate.ts) that refuses the image from its
   * manifest and counts its unpacked size before the engine unpacks anything. Turn off only where
   * the engine cannot reach this process's loopback (the agent inside a container): then the size
   * is checked from download progress and after the pull. @default true
   */
  gate?: boolean;
  /** Registries reached over plain HTTP besides loopback (the gate must know). @default [] */
  insecureRegistries?: readonly string[];
  /** The whole pull must finish within this long, ms. @default 1800000 (30 minutes) */
  timeoutMs?: number;
  /** A pull that moves no byte for this long is stopped, ms. @default 120000 */
  stallMs?: number;
  /** Cancels the pull. */
  signal?: AbortSignal;
  /** Reports bytes downloaded so far and the known total (compressed layers). */
  onProgress?: (downloadedBytes: number, totalBytes: number) => void;
  logger?: Logger;
}

/** Default deadline of one pull: 30 minutes (20 GB at 11 MB/s). */
export const defaultPullTimeoutMs = 30 * 60_000;
/** Default stall limit of one pull: 2 minutes without a byte. */
export const defaultPullStallMs = 120_000;

/**
 * Pulls an image by digest and returns what copy detection needs: config digest, layer diff ids,
 * size and every repo digest. An image already present (any name recording the same repository
 * and digest: the digest fixes the content) is inspected, not pulled again. The pull goes through
 * a registry gate, has a deadline and a stall limit, and an image over `maxBytes` compressed or
 * unpacked is refused before it is unpacked.
 * Throws CacheonError: "invalid-argument" (no digest), "resource-exhausted" (too large, disk
 * full), "deadline-exceeded" (too slow or stalled), "not-found"/"unavailable" (registry),
 * "failed-precondition" (digest mismatch), "cancelled".
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
  const shown = pullReference(image);
  const started = Date.now();
  let id = await findPulledImage(docker, image);
  let expected: string | undefined;
  if (!id) {
    await checkFreeDisk(docker, options.minFreeBytes ?? maxBytes, shown, logger);
    const gate =
      options.gate === false
        ? undefined
        : await openRegistryGate({
            registry: image.registry,
            maxBytes,
            ...(options.insecureRegistries ? { insecureRegistries: options.insecureRegistries } : {}),
            logger,
          });
    const ref = gate ? `${gate.host}/${image.repository}@${image.digest}` : shown;
    try {
      await pullStream(options, { ref, shown, maxBytes, gate });
    } finally {
      await gate?.close();
    }
    expected = gate ? ref : `${repoDigestName(image)}@${image.digest}`;
    id = ref;
  }
  const inspected = await docker
    .getImage(id)
    .inspect()
    .catch((error: unknown) => {
      throw dockerError(error, `inspecting ${shown} after the pull`);
    });
  const repoDigests = inspected.RepoDigests ?? [];
  if (expected && !repoDigests.includes(expected)) {
    throw new CacheonError(
      "failed-precondition",
      `${shown}: after the pull the engine records ${JSON.stringify(repoDigests)}, not ${expected}; the registry served other content than the digest names — do not run it`,
    );
  }
  const pulled = expected !== undefined;
  if (inspected.Size > maxBytes) {
    if (pulled)
      await docker
        .getImage(inspected.Id)
        .remove({ force: true })
        .catch(() => {});
    throw new CacheonError(
      "resource-exhausted",
      `${shown} is ${formatBytes(inspected.Size)} unpacked; the limit is ${formatBytes(maxBytes)}. Make the image smaller (model weights belong in the mounted /model directory, not in the image)`,
    );
  }
  const metadata = create(ImageMetadataSchema, {
    reference: { ...image },
    configDigest: inspected.Id,
    layerDiffIds: inspected.RootFS?.Layers ?? [],
    sizeBytes: BigInt(inspected.Size),
    repoDigests: recordedDigests(repoDigests, image),
    pullSeconds: pulled ? (Date.now() - started) / 1000 : 0,
  });
  logger.info("image ready", { image: shown, pulled, bytes: inspected.Size, seconds: metadata.pullSeconds });
  return metadata;
}

/**
 * The engine's id of an image already present under any name recording `image`'s repository and
 * digest (pulled directly, or through a gate on some loopback port), or undefined. The manifest
 * digest fixes the content, so which host the name carries does not matter.
 */
export async function findPulledImage(docker: Docker, image: PinnedImage): Promise<string | undefined> {
  let images: Docker.ImageInfo[];
  try {
    images = await docker.listImages({ digests: true });
  } catch (error) {
    throw dockerError(error, "listing images");
  }
  const names = recordedNames(image);
  return images.find((info) => (info.RepoDigests ?? []).some((d) => names(d)))?.Id;
}

/** A matcher of RepoDigests entries that name `image` (its own registry or a gate's). */
function recordedNames(image: PinnedImage): (entry: string) => boolean {
  const direct = `${repoDigestName(image)}@${image.digest}`;
  const suffix = `/${image.repository}@${image.digest}`;
  return (entry) => entry === direct || (/^127\.0\.0\.1:\d+\//.test(entry) && entry.endsWith(suffix));
}

/** RepoDigests as reported: a gate's loopback names are written as the image's own registry. */
function recordedDigests(repoDigests: string[], image: PinnedImage): string[] {
  const names = recordedNames(image);
  const direct = `${repoDigestName(image)}@${image.digest}`;
  return [...new Set(repoDigests.map((d) => (names(d) ? direct : d)))];
}

interface PullTarget {
  /** What the engine pulls (the gate's name, or the image's own). */
  ref: string;
  /** What messages name: the image's own reference. */
  shown: string;
  maxBytes: number;
  gate: RegistryGate | undefined;
}

async function pullStream(options: PullImageOptions, target: PullTarget): Promise<void> {
  const { docker } = options;
  const { ref, shown, maxBytes, gate } = target;
  const auth = options.auth
    ? { authconfig: { ...options.auth, serveraddress: gate ? gate.host : options.auth.serveraddress } }
    : {};
  const timeoutMs = options.timeoutMs ?? defaultPullTimeoutMs;
  const stallMs = options.stallMs ?? defaultPullStallMs;
  // Compressed layer sizes arrive in the progress events; refusing early saves the download.
  const totals = new Map<string, number>();
  const current = new Map<string, number>();
  let lastMoved = Date.now();
  let stopped: CacheonError | undefined;
  const local = new AbortController();
  const stop = (error: CacheonError) => {
    stopped ??= error;
    local.abort(error);
  };
  const onOuter = () => local.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", onOuter, { once: true });
  if (options.signal?.aborted) onOuter();
  gate?.onRefusal((error) => stop(new CacheonError(error.code, `${shown} refused: ${error.message}`)));
  const progressText = () => {
    const downloaded = Math.max(sum(current), gate?.stats().downloaded ?? 0);
    const total = Math.max(sum(totals), gate?.stats().declared ?? 0);
    return `${formatBytes(downloaded)}${total > 0 ? ` of ${formatBytes(total)}` : ""} downloaded`;
  };
  const deadline = setTimeout(
    () =>
      stop(
        new CacheonError(
          "deadline-exceeded",
          `pulling ${shown} did not finish within ${Math.round(timeoutMs / 1000)} s (${progressText()}); the registry is too slow`,
        ),
      ),
    timeoutMs,
  );
  const watch = setInterval(
    () => {
      const moved = Math.max(lastMoved, gate?.stats().lastActivityMs ?? 0);
      if (Date.now() - moved > stallMs) {
        stop(
          new CacheonError(
            "deadline-exceeded",
            `pulling ${shown} stalled: no data for ${Math.round(stallMs / 1000)} s (${progressText()}); the registry stopped sending`,
          ),
        );
      }
    },
    Math.max(10, Math.min(1000, stallMs / 4)),
  );
  const onEvent = (event: ProgressEvent) => {
    lastMoved = Date.now();
    if (event.status === "Downloading" && event.id && event.progressDetail) {
      if (event.progressDetail.total) totals.set(event.id, event.progressDetail.total);
      if (event.progressDetail.current) current.set(event.id, event.progressDetail.current);
      const total = sum(totals);
      options.onProgress?.(sum(current), total);
      if (total > maxBytes) {
        stop(
          new CacheonError(
            "resource-exhausted",
            `${shown}: its compressed layers alone are ${formatBytes(total)}, over the ${formatBytes(maxBytes)} limit; pull stopped`,
          ),
        );
      }
    }
  };
  try {
    if (gate?.refusal()) throw gate.refusal();
    let stream: NodeJS.ReadableStream;
    try {
      stream = await docker.pull(ref, { ...auth, abortSignal: local.signal });
    } catch (error) {
      if (stopped) throw stopped;
      throw dockerError(error, `pulling ${shown}`);
    }
    await followProgress(docker, stream, onEvent, local.signal);
    if (stopped) throw stopped;
  } catch (error) {
    if (stopped) throw stopped;
    const err = CacheonError.from(error, "unavailable");
    if (err.code === "cancelled" || options.signal?.aborted) {
      throw new CacheonError("cancelled", `pulling ${shown} was cancelled`, { cause: error });
    }
    const notFound = /not found|manifest unknown|unknown blob|404/i.test(err.message);
    throw new CacheonError(
      notFound ? "not-found" : "unavailable",
      `pulling ${shown} failed: ${err.message.replaceAll(ref, shown)}${notFound ? " (check the repository and digest; the image must be pushed and public or credentials given)" : " (check the registry is reachable; retry later)"}`,
      { cause: error },
    );
  } finally {
    clearTimeout(deadline);
    clearInterval(watch);
    options.signal?.removeEventListener("abort", onOuter);
  }
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
    // The pod's disk, not the image: an honest image must not fail for it.
    throw new PodFault(
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
