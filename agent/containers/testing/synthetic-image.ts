import { createHash, randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { createGzip } from "node:zlib";
import { pack } from "tar-stream";

/** One layer of a synthetic image: a tar holding one file of `bytes` bytes, all `fill`. */
export interface SyntheticLayer {
  /** Path of the file inside the image. */
  path: string;
  /** Size of the file, bytes: what the layer unpacks to (plus tar headers). */
  bytes: number;
  /** The byte the file is filled with; a constant fill compresses about 1000:1. @default 0 */
  fill?: number;
  /** Fill the file with random bytes instead (it does not compress). @default false */
  random?: boolean;
  /** Annotations written on the layer's manifest entry (e.g. a size that lies). */
  annotations?: Record<string, string>;
}

/** Options of {@link pushSyntheticImage}. */
export interface SyntheticImageOptions {
  /** Registry host:port on loopback (plain HTTP). */
  registry: string;
  /** Repository, e.g. "cacheon-test/bomb". */
  repository: string;
  layers: SyntheticLayer[];
}

/**
 * Builds an image in memory (gzip layers streamed from constant-filled files, an image config, a
 * schema-2 manifest) and pushes it to a registry over its HTTP API, without the Docker engine:
 * hostile shapes a `docker build` would not make cheaply, such as a 1 GB layer that downloads as
 * 1 MB. Returns `registry/repository@sha256:<manifest digest>`.
 */
export async function pushSyntheticImage(options: SyntheticImageOptions): Promise<string> {
  const base = `http://${options.registry}/v2/${options.repository}`;
  const layers: Array<{
    digest: string;
    size: number;
    diffId: string;
    annotations?: Record<string, string>;
  }> = [];
  for (const layer of options.layers) {
    const { compressed, diffId } = await gzipLayer(layer);
    const digest = await uploadBlob(base, compressed);
    layers.push({
      digest,
      size: compressed.length,
      diffId,
      ...(layer.annotations ? { annotations: layer.annotations } : {}),
    });
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: { Cmd: ["/nothing"] },
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    }),
  );
  const configDigest = await uploadBlob(base, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.docker.distribution.manifest.v2+json",
      config: {
        mediaType: "application/vnd.docker.container.image.v1+json",
        size: config.length,
        digest: configDigest,
      },
      layers: layers.map((l) => ({
        mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip",
        size: l.size,
        digest: l.digest,
        ...(l.annotations ? { annotations: l.annotations } : {}),
      })),
    }),
  );
  const digest = sha256(manifest);
  const put = await fetch(`${base}/manifests/${digest}`, {
    method: "PUT",
    headers: { "content-type": "application/vnd.docker.distribution.manifest.v2+json" },
    body: manifest,
  });
  if (!put.ok) throw new Error(`manifest upload to ${base} failed: HTTP ${put.status} ${await put.text()}`);
  return `${options.registry}/${options.repository}@${digest}`;
}

/** The gzip of a one-file tar, streamed (the file never exists whole), and the tar's own digest. */
async function gzipLayer(layer: SyntheticLayer): Promise<{ compressed: Buffer; diffId: string }> {
  const tar = pack();
  const chunk = layer.random ? randomBytes(1024 * 1024) : Buffer.alloc(1024 * 1024, layer.fill ?? 0);
  const entry = tar.entry({
    name: layer.path.replace(/^\//, ""),
    size: layer.bytes,
    mode: 0o644,
    mtime: new Date(0),
  });
  const writeFile = (async () => {
    for (let left = layer.bytes; left > 0; left -= chunk.length) {
      if (!entry.write(chunk.subarray(0, Math.min(left, chunk.length)))) {
        await new Promise<void>((resolve) => entry.once("drain", () => resolve()));
      }
    }
    (entry as unknown as { end(): void }).end();
    tar.finalize();
  })();
  const diff = createHash("sha256");
  const gzip = createGzip({ level: 9 });
  const parts: Buffer[] = [];
  gzip.on("data", (b: Buffer) => parts.push(b));
  const gzipped = new Promise((resolve, reject) => {
    gzip.on("end", resolve);
    gzip.on("error", reject);
  });
  for await (const piece of tar as unknown as Readable) {
    diff.update(piece as Buffer);
    if (!gzip.write(piece)) await new Promise((resolve) => gzip.once("drain", resolve));
  }
  gzip.end();
  await Promise.all([writeFile, gzipped]);
  return { compressed: Buffer.concat(parts), diffId: `sha256:${diff.digest("hex")}` };
}

/** Uploads a blob monolithically (POST, then PUT with its digest); returns the digest. */
async function uploadBlob(base: string, body: Buffer): Promise<string> {
  const digest = sha256(body);
  const start = await fetch(`${base}/blobs/uploads/`, { method: "POST" });
  const location = start.headers.get("location");
  if (start.status !== 202 || !location)
    throw new Error(`blob upload to ${base} refused: HTTP ${start.status}`);
  const url = new URL(location, base);
  url.searchParams.set("digest", digest);
  const put = await fetch(url, {
    method: "PUT",
    headers: { "content-type": "application/octet-stream" },
    body: new Uint8Array(body),
  });
  if (put.status !== 201) throw new Error(`blob upload to ${base} failed: HTTP ${put.status}`);
  return digest;
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}
