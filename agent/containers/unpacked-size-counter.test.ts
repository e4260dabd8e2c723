import { randomBytes } from "node:crypto";
import { gzipSync, zstdCompressSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { createUnpackedSizeCounter, sniffCompression } from "./unpacked-size-counter.ts";

const mib = 1024 * 1024;

/** Feeds `blob` in 64 KiB pieces, as a registry stream would, and returns the counter's total. */
async function countOf(blob: Uint8Array, limit = Number.POSITIVE_INFINITY): Promise<number> {
  const counter = createUnpackedSizeCounter((total) => {
    if (total > limit) throw new Error(`over ${limit}`);
  });
  for (let at = 0; at < blob.length; at += 64 * 1024) await counter.write(blob.subarray(at, at + 64 * 1024));
  return counter.end();
}

describe("sniffCompression", () => {
  it.each([
    ["gzip", gzipSync(Buffer.from("x")), "gzip"],
    ["zstd", zstdCompressSync(Buffer.from("x")), "zstd"],
    ["bzip2", Buffer.from("BZh91AY&SY"), "bzip2"],
    ["xz", Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00]), "xz"],
    ["a plain tar", Buffer.from("etc/passwd\0\0\0"), "none"],
  ])("tells %s", (_what, head, kind) => {
    expect(sniffCompression(head)).toBe(kind);
  });
});

describe("createUnpackedSizeCounter", () => {
  const content = randomBytes(3 * mib);

  it.each([
    ["gzip", gzipSync(content)],
    ["zstd", zstdCompressSync(content)],
    ["uncompressed", content],
    // Two gzip members back to back: Docker unpacks both, so both count.
    ["multi-member gzip", Buffer.concat([gzipSync(content), gzipSync(content)])],
  ])("counts the unpacked bytes of a %s blob", async (what, blob) => {
    expect(await countOf(blob)).toBe(what === "multi-member gzip" ? 2 * content.length : content.length);
  });

  it("stops a gzip bomb at the limit: a tiny download that unpacks to 256 MiB", async () => {
    const bomb = gzipSync(Buffer.alloc(256 * mib), { level: 9 });
    expect(bomb.length).toBeLessThan(mib);
    let seen = 0;
    const counter = createUnpackedSizeCounter((total) => {
      seen = total;
      if (total > 16 * mib) throw new Error("over the limit");
    });
    await expect(
      (async () => {
        for (let at = 0; at < bomb.length; at += 64 * 1024)
          await counter.write(bomb.subarray(at, at + 64 * 1024));
        await counter.end();
      })(),
    ).rejects.toThrow("over the limit");
    // It stopped near the limit instead of inflating everything first (zlib emits 16 KiB pieces).
    expect(seen).toBeGreaterThan(16 * mib);
    expect(seen).toBeLessThan(17 * mib);
  });

  it("refuses what it cannot count, and a broken stream", async () => {
    await expect(countOf(Buffer.from("BZh91AY&SY-some-bzip2-data"))).rejects.toThrow(/bzip2-compressed/);
    const truncated = gzipSync(content).subarray(0, 100_000);
    await expect(countOf(Buffer.concat([truncated, Buffer.alloc(100, 7)]))).rejects.toThrow(
      /could not be decompressed/,
    );
  });

  it("counts a blob shorter than the sniffed prefix", async () => {
    expect(await countOf(Buffer.from("abc"))).toBe(3);
  });
});
