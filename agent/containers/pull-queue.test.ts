import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ImageMetadataSchema } from "../../shared/gen/cacheon/v1/image_pb.ts";
import { type PinnedImage, pullReference } from "../../shared/image/image-reference.ts";
import { createPullQueue } from "./pull-queue.ts";

const image = (n: number): PinnedImage => ({
  registry: "127.0.0.1:5000",
  repository: `r${n}`,
  digest: `sha256:${String(n).repeat(64).slice(0, 64)}`,
  tag: "",
});

/** A pull that finishes when the test says so, logging starts and ends. */
function controlledPulls() {
  const log: string[] = [];
  const finish = new Map<string, () => void>();
  const pull = (img: PinnedImage) => {
    const ref = pullReference(img);
    log.push(`start ${img.repository}`);
    return new Promise<ReturnType<typeof create<typeof ImageMetadataSchema>>>((resolve) =>
      finish.set(ref, () => {
        log.push(`end ${img.repository}`);
        resolve(create(ImageMetadataSchema, {}));
      }),
    );
  };
  const end = async (n: number) => {
    finish.get(pullReference(image(n)))?.();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { log, pull, end };
}

describe("createPullQueue pause and resume", () => {
  it("pause waits for the running pull, starts nothing until resume, then goes on in order", async () => {
    const { log, pull, end } = controlledPulls();
    const queue = createPullQueue({ pull });
    queue.prefetch([image(1), image(2), image(3)]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).toEqual(["start r1"]);
    let drained = false;
    const paused = queue.pause().then(() => {
      drained = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(drained).toBe(false); // r1 still runs
    await end(1);
    await paused;
    expect(drained).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(log).toEqual(["start r1", "end r1"]); // r2 held while paused
    queue.resume();
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).toEqual(["start r1", "end r1", "start r2"]);
    await end(2);
    await end(3);
    expect(log).toEqual(["start r1", "end r1", "start r2", "end r2", "start r3", "end r3"]);
    expect(queue.pending()).toBe(0);
  });

  it("pauses at once when nothing runs, and holds a pull asked for while paused", async () => {
    const { log, pull, end } = controlledPulls();
    const queue = createPullQueue({ pull });
    await queue.pause();
    const got = queue.get(image(4));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(log).toEqual([]);
    queue.resume();
    await new Promise((resolve) => setImmediate(resolve));
    await end(4);
    await got;
    expect(log).toEqual(["start r4", "end r4"]);
  });
});
