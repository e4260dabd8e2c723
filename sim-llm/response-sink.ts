import type { ServerResponse } from "node:http";

/** Where a response's bytes go; misbehaving sinks change when and how they reach the client. */
export interface ResponseSink {
  /** Sends (or holds) part of the body. */
  write(data: string): void;
  /** Ends the body. */
  end(): void;
}

/** Options of {@link createSink}. */
export interface SinkOptions {
  /** Hold everything and send it in one write at the end (stream buffering). */
  buffer?: boolean;
  /** Send one byte every this many ms (slow drip). */
  dripMs?: number;
  /** Called with every piece written, e.g. to record a response for replay. */
  record?: (data: string) => void;
  /** Timers to clear when the server closes. */
  timers: Set<NodeJS.Timeout>;
}

/** A sink writing to `res`, honestly or in one of the misbehaving ways. */
export function createSink(res: ServerResponse, options: SinkOptions): ResponseSink {
  const record = options.record ?? (() => {});
  if (options.buffer) {
    const held: string[] = [];
    return {
      write: (data) => {
        record(data);
        held.push(data);
      },
      end: () => {
        if (!res.destroyed) res.end(held.join(""));
      },
    };
  }
  const dripMs = options.dripMs;
  if (dripMs !== undefined) {
    let queue = Buffer.alloc(0);
    let ending = false;
    let timer: NodeJS.Timeout | undefined;
    const tick = () => {
      if (timer) options.timers.delete(timer);
      timer = undefined;
      if (res.destroyed) return;
      if (queue.length > 0) {
        res.write(queue.subarray(0, 1));
        queue = queue.subarray(1);
      }
      if (queue.length > 0) arm();
      else if (ending) res.end();
    };
    const arm = () => {
      if (timer) return;
      timer = setTimeout(tick, dripMs);
      options.timers.add(timer);
    };
    return {
      write: (data) => {
        record(data);
        queue = Buffer.concat([queue, Buffer.from(data)]);
        arm();
      },
      end: () => {
        ending = true;
        if (queue.length === 0 && !timer && !res.destroyed) res.end();
      },
    };
  }
  return {
    write: (data) => {
      record(data);
      if (!res.destroyed) res.write(data);
    },
    end: () => {
      if (!res.destroyed) res.end();
    },
  };
}
