import type { ImageMetadata } from "../../shared/gen/cacheon/v1/image_pb.ts";
import { type PinnedImage, pullReference } from "../../shared/image/image-reference.ts";

/** Pulls one image; the queue calls it at most once per reference. */
export type PullFunction = (image: PinnedImage, signal: AbortSignal) => Promise<ImageMetadata>;

/** Options of {@link createPullQueue}. */
export interface PullQueueOptions {
  /** Does one pull (usually pullImage with the job's engine, limits and credentials). */
  pull: PullFunction;
  /** Pulls running at once. One keeps the link's bandwidth for the image needed next. @default 1 */
  concurrency?: number;
  /** Cancels queued and running pulls. */
  signal?: AbortSignal;
}

/**
 * A bounded queue of pulls, deduplicated by reference. `prefetch` starts pulls in the background
 * (in call order) while an arm runs; `get` waits for one (starting it when not queued). A failed
 * pull is remembered: every `get` of it rejects with the same error.
 */
export interface PullQueue {
  /** Queues pulls without waiting; errors surface through `get`. */
  prefetch(images: readonly PinnedImage[]): void;
  /** The image's metadata once pulled; queues it first when needed. */
  get(image: PinnedImage): Promise<ImageMetadata>;
  /** Pulls queued or running now. */
  pending(): number;
  /**
   * Holds the queue: no pull starts until {@link resume}, and this resolves once the pulls running
   * now have finished, so nothing pulls while an arm is timed (a pull's disk and network I/O would
   * load the machine of one arm and not of another). Resolves at once when nothing runs.
   */
  pause(): Promise<void>;
  /** Lets queued pulls start again. */
  resume(): void;
}

/** Creates a {@link PullQueue}. */
export function createPullQueue(options: PullQueueOptions): PullQueue {
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const signal = options.signal ?? new AbortController().signal;
  const results = new Map<string, Promise<ImageMetadata>>();
  const waiting: Array<() => void> = [];
  let running = 0;
  let unsettled = 0;
  let paused = false;
  const drained: Array<() => void> = [];

  const acquire = async () => {
    if (running < concurrency && !paused) {
      running += 1;
      return;
    }
    await new Promise<void>((resolve) => waiting.push(resolve));
  };
  const release = () => {
    const next = paused ? undefined : waiting.shift();
    if (next) next();
    else running -= 1;
    if (running === 0) for (const done of drained.splice(0)) done();
  };

  const enqueue = (image: PinnedImage): Promise<ImageMetadata> => {
    const key = pullReference(image);
    const known = results.get(key);
    if (known) return known;
    unsettled += 1;
    const promise = (async () => {
      await acquire();
      try {
        signal.throwIfAborted();
        return await options.pull(image, signal);
      } finally {
        release();
        unsettled -= 1;
      }
    })();
    // Prefetched pulls may fail before anyone asks; the rejection is kept for `get`.
    promise.catch(() => {});
    results.set(key, promise);
    return promise;
  };

  return {
    prefetch(images) {
      for (const image of images) enqueue(image);
    },
    get: enqueue,
    pending: () => unsettled,
    pause() {
      paused = true;
      if (running === 0) return Promise.resolve();
      return new Promise<void>((resolve) => drained.push(resolve));
    },
    resume() {
      paused = false;
      while (running < concurrency && waiting.length > 0) {
        running += 1;
        waiting.shift()?.();
      }
    },
  };
}
