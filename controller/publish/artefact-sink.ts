import { mkdir, rename, writeFile } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";

/** Where published results go: a local folder (default) or an S3 bucket. */
export interface ArtefactSink {
  /** Writes one object; the same key written twice holds the last body. */
  put(key: string, body: string | Uint8Array, contentType: string): Promise<void>;
  /** Where a key ends up, for people ("file:///...", "s3://bucket/..."). */
  locate(key: string): string;
}

/** A key is a relative path of safe segments; anything else could escape the folder or bucket prefix. */
export function checkKey(key: string): void {
  if (
    !/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(key) ||
    key.split("/").some((s) => s === "." || s === "..")
  ) {
    throw new CacheonError(
      "invalid-argument",
      `artefact key ${JSON.stringify(key)} is not a relative path of plain segments`,
    );
  }
}

/** Writes under a folder; each file is written whole (temp file + rename), so readers never see half of one. */
export function localFolderSink(root: string): ArtefactSink {
  const base = resolve(root);
  return {
    async put(key, body) {
      checkKey(key);
      const path = join(base, key);
      if (!path.startsWith(base + sep))
        throw new CacheonError("invalid-argument", `artefact key ${key} escapes ${base}`);
      try {
        await mkdir(dirname(path), { recursive: true });
        const temp = `${path}.tmp-${process.pid}`;
        await writeFile(temp, body);
        await rename(temp, path);
      } catch (error) {
        throw new CacheonError(
          "unavailable",
          `cannot write ${path}: ${(error as Error).message}; check publish.folder and its permissions`,
          { cause: error },
        );
      }
    },
    locate: (key) => `file://${join(base, key)}`,
  };
}

/** Options of {@link s3Sink}. */
export interface S3SinkOptions {
  bucket: string;
  /** Key prefix inside the bucket, without a trailing slash. @default "" */
  prefix?: string;
  /** Endpoint URL for S3-compatible stores; AWS when unset. */
  endpoint?: string | undefined;
  /** @default "us-east-1" */
  region?: string;
  /** Credentials; the SDK's default chain when unset. */
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  /** Path-style URLs (needed by most S3-compatible servers). @default true when an endpoint is set */
  forcePathStyle?: boolean;
}

/** Writes to an S3 bucket through @aws-sdk/client-s3. */
export function s3Sink(options: S3SinkOptions): ArtefactSink {
  const client = new S3Client({
    region: options.region ?? "us-east-1",
    endpoint: options.endpoint,
    forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
    // Checksums only where the API requires them: S3-compatible servers differ in support.
    requestChecksumCalculation: "WHEN_REQUIRED",
    credentials:
      options.accessKeyId && options.secretAccessKey
        ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey }
        : undefined,
  });
  const full = (key: string) => (options.prefix ? `${options.prefix.replace(/\/+$/, "")}/${key}` : key);
  return {
    async put(key, body, contentType) {
      checkKey(key);
      try {
        await client.send(
          new PutObjectCommand({
            Bucket: options.bucket,
            Key: full(key),
            Body: body,
            ContentType: contentType,
          }),
        );
      } catch (error) {
        const e = error as Error & { name?: string; $metadata?: { httpStatusCode?: number } };
        const status = e.$metadata?.httpStatusCode;
        const code =
          e.name === "NoSuchBucket" || status === 404
            ? "not-found"
            : status === 403
              ? "permission-denied"
              : "unavailable";
        throw new CacheonError(
          code,
          `cannot put s3://${options.bucket}/${full(key)}${options.endpoint ? ` at ${options.endpoint}` : ""}: ${e.name ?? "error"}: ${e.message}; check publish.s3.* (bucket exists, credentials may write)`,
          { cause: error },
        );
      }
    },
    locate: (key) => `s3://${options.bucket}/${full(key)}`,
  };
}
