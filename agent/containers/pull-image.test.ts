import { randomBytes } from "node:crypto";
import { statfs } from "node:fs/promises";
import Docker from "dockerode";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parseImageReference, pullReference } from "../../shared/image/image-reference.ts";
import { testServices } from "../../test/support/services.ts";
import { followProgress } from "./follow-progress.ts";
import { findPulledImage, pullImage } from "./pull-image.ts";
import { createPullQueue } from "./pull-queue.ts";
import { buildNodeTestImage, pushTestImage, testLabel } from "./testing/node-test-image.ts";
import { startSlowRegistry } from "./testing/slow-registry.ts";
import { pushSyntheticImage } from "./testing/synthetic-image.ts";

const services = testServices();
const docker = new Docker({ socketPath: services.dockerSocket });
const pushed: string[] = [];

/** Builds a unique two-layer scratch image, pushes it, removes the local copy; returns repo@digest. */
async function pushUnique(name: string): Promise<string> {
  const { pack } = await import("tar-stream");
  const archive = pack();
  archive.entry({ name: "Dockerfile" }, "FROM scratch\nCOPY a.txt /a.txt\nCOPY b.bin /b.bin\n");
  archive.entry({ name: "a.txt" }, randomBytes(16).toString("hex"));
  archive.entry({ name: "b.bin" }, randomBytes(200_000));
  archive.finalize();
  const local = `cacheon-test/${name}:${randomBytes(4).toString("hex")}`;
  await followProgress(
    docker,
    await docker.buildImage(archive as unknown as NodeJS.ReadableStream, {
      t: local,
      labels: { [testLabel]: "containers" },
    }),
  );
  const ref = await pushTestImage(
    docker,
    local,
    `${services.registry}/cacheon-test/${name}:${local.split(":")[1]}`,
  );
  await docker.getImage(local).remove({ force: true });
  await docker
    .getImage(`${services.registry}/cacheon-test/${name}:${local.split(":")[1]}`)
    .remove({ force: true });
  pushed.push(ref);
  return ref;
}

/** Whether the engine holds the image, under whatever name (a gate's loopback name included). */
async function present(ref: string): Promise<boolean> {
  return (await findPulledImage(docker, parseImageReference(ref))) !== undefined;
}

/** Removes a pulled image by id (gated pulls name it after the gate's port, not the registry). */
async function removePulled(ref: string): Promise<void> {
  const id = await findPulledImage(docker, parseImageReference(ref));
  if (id)
    await docker
      .getImage(id)
      .remove({ force: true })
      .catch(() => {});
}

let refA: string;
let refB: string;
beforeAll(async () => {
  refA = await pushUnique("pull-a");
  refB = await pushUnique("pull-b");
});

afterAll(async () => {
  for (const ref of pushed) await removePulled(ref);
});

describe("pullImage against the real registry", () => {
  it("pulls by digest and records config digest, layer diff ids, size and repo digests", async () => {
    const image = parseImageReference(refA);
    const meta = await pullImage({ docker, image });
    const inspected = await docker.getImage(meta.configDigest).inspect();
    expect(meta.configDigest).toBe(inspected.Id);
    expect(meta.layerDiffIds).toEqual(inspected.RootFS.Layers);
    expect(meta.layerDiffIds).toHaveLength(2);
    expect(Number(meta.sizeBytes)).toBe(inspected.Size);
    // Pulled through the gate on loopback, reported under the registry's own name.
    expect(meta.repoDigests).toEqual([refA]);
    expect(inspected.RepoDigests?.[0]).toMatch(/^127\.0\.0\.1:\d+\/cacheon-test\/pull-a@sha256:/);
    expect(meta.reference?.digest).toBe(image.digest);
    expect(meta.pullSeconds).toBeGreaterThan(0);
    // Present now: inspected, not pulled again.
    const again = await pullImage({ docker, image });
    expect(again.pullSeconds).toBe(0);
    expect(again.configDigest).toBe(meta.configDigest);
  });

  it("refuses an image over the size limit and removes it (direct pull, no gate)", async () => {
    const image = parseImageReference(refB);
    await expect(pullImage({ docker, image, maxBytes: 1000, gate: false })).rejects.toMatchObject({
      code: "resource-exhausted",
      message: expect.stringMatching(/(over the|limit is) 1\.0 kB( limit)?/),
    });
    expect(await present(refB)).toBe(false);
  });

  it("refuses to pull when the disk has less free space than required", async () => {
    const image = parseImageReference(refB);
    await expect(pullImage({ docker, image, minFreeBytes: 1e18 })).rejects.toMatchObject({
      code: "resource-exhausted",
      message: expect.stringMatching(/free under .*needed/),
    });
    expect(await present(refB)).toBe(false);
  });

  it("reports a digest the registry does not hold as not-found", async () => {
    const image = parseImageReference(`${services.registry}/cacheon-test/pull-a@sha256:${"1".repeat(64)}`);
    await expect(pullImage({ docker, image })).rejects.toMatchObject({ code: "not-found" });
  });

  it("reports an unreachable registry as unavailable", async () => {
    const image = parseImageReference(`127.0.0.1:1/cacheon-test/none@sha256:${"2".repeat(64)}`);
    await expect(pullImage({ docker, image })).rejects.toMatchObject({ code: "unavailable" });
  });

  it("refuses a reference without a digest before touching the engine", async () => {
    const image = {
      registry: services.registry,
      repository: "cacheon-test/pull-a",
      digest: "latest",
      tag: "",
    };
    await expect(pullImage({ docker, image })).rejects.toMatchObject({ code: "invalid-argument" });
  });

  it("pulls through a bounded queue once per reference, in order", async () => {
    await removePulled(refA);
    const order: string[] = [];
    let running = 0;
    let peak = 0;
    const queue = createPullQueue({
      concurrency: 1,
      pull: async (image, signal) => {
        running += 1;
        peak = Math.max(peak, running);
        order.push(pullReference(image));
        try {
          return await pullImage({ docker, image, signal });
        } finally {
          running -= 1;
        }
      },
    });
    const a = parseImageReference(refA);
    const b = parseImageReference(refB);
    queue.prefetch([a, b, a]);
    expect(queue.pending()).toBe(2);
    const [ma, mb, ma2] = await Promise.all([queue.get(a), queue.get(b), queue.get(a)]);
    expect(ma).toBe(ma2);
    expect(ma.pullSeconds).toBeGreaterThan(0);
    expect(mb.pullSeconds).toBeGreaterThan(0);
    expect(order).toEqual([pullReference(a), pullReference(b)]);
    expect(peak).toBe(1);
    expect(queue.pending()).toBe(0);
  });

  it("keeps a failed prefetch's error for whoever asks", async () => {
    const missing = parseImageReference(`${services.registry}/cacheon-test/pull-a@sha256:${"3".repeat(64)}`);
    const queue = createPullQueue({ pull: (image, signal) => pullImage({ docker, image, signal }) });
    queue.prefetch([missing]);
    await expect(queue.get(missing)).rejects.toMatchObject({ code: "not-found" });
    await expect(queue.get(missing)).rejects.toMatchObject({ code: "not-found" });
  });

  it("cancels queued pulls when the signal aborts", async () => {
    const controller = new AbortController();
    const queue = createPullQueue({
      signal: controller.signal,
      pull: (image, signal) => pullImage({ docker, image, signal }),
    });
    controller.abort();
    await expect(queue.get(parseImageReference(refA))).rejects.toThrow();
  });
});

describe("pullImage against hostile images and registries", () => {
  const mib = 1024 * 1024;
  // refB may be present from the tests above; these need it absent to pull it.
  beforeEach(() => removePulled(refB));
  /** Bytes Docker's data root holds now: a pull that unpacked something shows here. */
  const used = async () => {
    const fs = await statfs((await docker.info()).DockerRootDir as string);
    return (fs.blocks - fs.bfree) * fs.bsize;
  };

  it("refuses an image whose manifest declares layers over the limit, before downloading any", async () => {
    const image = parseImageReference(refB);
    const error = await pullImage({ docker, image, maxBytes: 100_000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "resource-exhausted" });
    expect((error as Error).message).toMatch(
      /refused: its manifest declares 20\d\.\d kB of compressed layers, over the 100\.0 kB limit; nothing was downloaded/,
    );
    expect(await present(refB)).toBe(false);
  });

  it("refuses a compression bomb (1 MB download, 512 MiB unpacked) before the engine unpacks it", async () => {
    const ref = await pushSyntheticImage({
      registry: services.registry,
      repository: "cacheon-test/bomb",
      layers: [{ path: "/zeros.bin", bytes: 512 * mib }],
    });
    pushed.push(ref);
    const before = await used();
    const error = await pullImage({ docker, image: parseImageReference(ref), maxBytes: 64 * mib }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: "resource-exhausted" });
    expect((error as Error).message).toMatch(
      /refused: it unpacks to more than 67\.1 MB \(counted while downloading/,
    );
    expect(await present(ref)).toBe(false);
    // Nothing near 512 MiB reached the disk (other tests share it, so only the order of size counts).
    expect((await used()) - before).toBeLessThan(256 * mib);
  });

  it("refuses a layer whose size annotation lies, by counting what it really unpacks to", async () => {
    const ref = await pushSyntheticImage({
      registry: services.registry,
      repository: "cacheon-test/liar",
      layers: [
        {
          path: "/big.bin",
          bytes: 96 * mib,
          fill: 7,
          annotations: { "io.containers.estargz.uncompressed-size": "1024" },
        },
      ],
    });
    pushed.push(ref);
    await expect(
      pullImage({ docker, image: parseImageReference(ref), maxBytes: 32 * mib }),
    ).rejects.toMatchObject({
      code: "resource-exhausted",
      message: expect.stringMatching(/unpacks to more than/),
    });
    expect(await present(ref)).toBe(false);
  });

  it("stops a pull from a slow registry at its deadline, saying how far it got", async () => {
    const slow = await startSlowRegistry({ upstream: services.registry, bytesPerSecond: 20_000 });
    try {
      const image = parseImageReference(refB.replace(services.registry, slow.host));
      const t0 = Date.now();
      const error = await pullImage({ docker, image, timeoutMs: 2000 }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "deadline-exceeded" });
      expect((error as Error).message).toContain(
        `pulling ${image.registry}/cacheon-test/pull-b@${image.digest}`,
      );
      expect((error as Error).message).toMatch(
        /did not finish within 2 s \([\d.]+ kB of 20\d\.\d kB downloaded\)/,
      );
      expect(Date.now() - t0).toBeLessThan(30_000);
      expect(await present(refB)).toBe(false);
    } finally {
      await slow.close();
    }
  });

  it("stops a pull whose registry stalls mid-layer", async () => {
    const stalled = await startSlowRegistry({
      upstream: services.registry,
      bytesPerSecond: 1_000_000,
      stallAfterBytes: 50_000,
    });
    try {
      const image = parseImageReference(refB.replace(services.registry, stalled.host));
      const error = await pullImage({ docker, image, stallMs: 1500 }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "deadline-exceeded" });
      expect((error as Error).message).toMatch(/stalled: no data for 2 s/);
      expect(stalled.sent()).toBeGreaterThanOrEqual(50_000);
    } finally {
      await stalled.close();
    }
  });
});

// The builder used by the container tests, exercised once here so its failure names itself.
it("builds the Node test image from scratch", async () => {
  const tag = await buildNodeTestImage({
    docker,
    repository: "cacheon-test/node-echo",
    area: "containers",
    files: { "x.js": "console.log(1)" },
    cmd: ["/bin/node", "/app/x.js"],
  });
  expect((await docker.getImage(tag).inspect()).Config.Labels?.[testLabel]).toBe("containers");
});
