import { once } from "node:events";
import type { Transform } from "node:stream";
import zlib from "node:zlib";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";

/** How a layer blob is compressed, told by its first bytes (as the Docker engine tells it). */
export type LayerCompression = "gzip" | "zstd" | "bzip2" | "xz" | "none";

/** The compression of a blob from its first bytes (at least 6 for a sure answer). Pure. */
export function sniffCompression(head: Uint8Array): LayerCompression {
  const starts = (...bytes: number[]) => bytes.every((b, i) => head[i] === b);
  if (starts(0x1f, 0x8b)) return "gzip";
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return "zstd";
  if (starts(0x42, 0x5a, 0x68)) return "bzip2";
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return "xz";
  return "none";
}

/** Counts the unpacked bytes of one blob as its compressed bytes stream through. */
export interface UnpackedSizeCounter {
  /** Feeds compressed bytes; resolves when the decompressor can take more. Throws on a bad stream. */
  write(chunk: Uint8Array): Promise<void>;
  /** Ends the blob; resolves with its unpacked size once everything is decompressed. */
  end(): Promise<number>;
  /** Unpacked bytes counted so far. */
  readonly unpacked: number;
  /** Stops at once (the blob was refused); never throws. */
  destroy(): void;
}

/**
 * A counter of one blob's unpacked size: sniffs the compression, runs the bytes through the
 * matching decompressor (nothing is written anywhere) and calls `onUnpacked` with the running
 * total, which may throw to stop the blob (the caller's limit). gzip (every member of a
 * multi-member stream) and zstd are decompressed, uncompressed blobs counted as they are; bzip2
 * and xz, which Node cannot decompress, are refused rather than let through uncounted.
 */
export function createUnpackedSizeCounter(onUnpacked: (total: number) => void): UnpackedSizeCounter {
  let head: Uint8Array[] = [];
  let headBytes = 0;
  let inflater: Transform | undefined;
  // Settles when the decompressor closes (ended, failed or destroyed), so no wait can hang.
  let closed: Promise<void> = new Promise(() => {});
  let raw = false;
  let unpacked = 0;
  let failure: Error | undefined;
  const count = (n: number) => {
    unpacked += n;
    try {
      onUnpacked(unpacked);
    } catch (error) {
      failure = error as Error;
      inflater?.destroy();
    }
  };
  const start = (): void => {
    const bytes = Buffer.concat(head);
    head = [];
    const kind = sniffCompression(bytes);
    if (kind === "bzip2" || kind === "xz") {
      throw new CacheonError(
        "failed-precondition",
        `a layer is ${kind}-compressed; its unpacked size cannot be counted before it is unpacked, so it is refused (push layers compressed with gzip or zstd)`,
      );
    }
    if (kind === "none") raw = true;
    else {
      const stream = kind === "gzip" ? zlib.createGunzip() : zlib.createZstdDecompress();
      inflater = stream;
      closed = new Promise((resolve) => stream.once("close", resolve));
      stream.on("data", (out: Buffer) => count(out.length));
      stream.on("error", (error) => {
        failure ??= new CacheonError(
          "failed-precondition",
          `a ${kind} layer could not be decompressed (${error.message}); refused`,
        );
      });
    }
    feed(bytes);
  };
  let pending: Promise<void> = Promise.resolve();
  const feed = (chunk: Uint8Array): void => {
    if (raw) {
      count(chunk.length);
      return;
    }
    if (inflater && !inflater.write(chunk))
      pending = once(inflater, "drain").then(
        () => {},
        () => {},
      );
  };
  return {
    async write(chunk) {
      if (failure) throw failure;
      if (!inflater && !raw) {
        head.push(chunk);
        headBytes += chunk.length;
        if (headBytes < 6) return;
        start();
      } else {
        feed(chunk);
      }
      await Promise.race([pending, closed]);
      if (failure) throw failure;
    },
    async end() {
      if (failure) throw failure;
      if (!inflater && !raw) start();
      if (inflater) {
        const done = new Promise<void>((resolve) => inflater?.once("end", resolve));
        inflater.end();
        await Promise.race([done, closed]);
      }
      if (failure) throw failure;
      return unpacked;
    },
    get unpacked() {
      return unpacked;
    },
    destroy() {
      inflater?.destroy();
    },
  };
}
