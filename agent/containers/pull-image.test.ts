import { randomBytes } from "node:crypto";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseImageReference, pullReference } from "../../shared/image/image-reference.ts";
import { testServices } from "../../test/support/services.ts";
import { followProgress } from "./follow-progress.ts";
import { pullImage } from "./pull-image.ts";
import { createPullQueue } from "./pull-queue.ts";
import { buildNodeTestImage, pushTestImage, testLabel } from "./testing/node-test-image.ts";

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

async function present(ref: string): Promise<boolean> {
  return docker
    .getImage(ref)
    .inspect()
    .then(() => true)
    .catch(() => false);
}

let refA: string;
let refB: string;
beforeAll(async () => {
  refA = await pushUnique("pull-a");
  refB = await pushUnique("pull-b");
});

afterAll(async () => {
  for (const ref of pushed)
    await docker
      .getImage(ref)
      .remove({ force: true })
      .catch(() => {});
});

describe("pullImage against the real registry", () => {
  it("pulls by digest and records config digest, layer diff ids, size and repo digests", async () => {
    const image = parseImageReference(refA);
    const meta = await pullImage({ docker, image });
    const inspected = await docker.getImage(refA).inspect();
    expect(meta.configDigest).toBe(inspected.Id);
    expect(meta.layerDiffIds).toEqual(inspected.RootFS.Layers);
    expect(meta.layerDiffIds).toHaveLength(2);
    expect(Number(meta.sizeBytes)).toBe(inspected.Size);
    expect(meta.repoDigests).toContain(refA);
    expect(meta.reference?.digest).toBe(image.digest);
    expect(meta.pullSeconds).toBeGreaterThan(0);
    // Present now: inspected, not pulled again.
    const again = await pullImage({ docker, image });
    expect(again.pullSeconds).toBe(0);
    expect(again.configDigest).toBe(meta.configDigest);
  });

  it("refuses an image over the size limit and removes it", async () => {
    const image = parseImageReference(refB);
    await expect(pullImage({ docker, image, maxBytes: 1000 })).rejects.toMatchObject({
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
    await docker
      .getImage(refA)
      .remove({ force: true })
      .catch(() => {});
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
