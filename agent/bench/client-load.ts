import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { clientBoundKind } from "../../shared/findings/findings-against-server.ts";
import type { ClientLoad as ClientLoadMessage } from "../../shared/gen/cacheon/v1/metrics_pb.ts";

/**
 * The measuring client's own load over one timed window (one repetition): the fields of
 * cacheon.v1.ClientLoad (metrics.proto documents each).
 */
export type ClientLoad = Omit<ClientLoadMessage, "$typeName" | "$unknown">;

/** A running measurement of the client's load; {@link stop} ends it. */
export interface ClientLoadMonitor {
  /** Ends the window and returns its figures (parseCpuS 0: the caller adds it). */
  stop(): ClientLoad;
}

/**
 * Starts measuring the calling thread's CPU time and event-loop lag. The lag is sampled by a
 * timer every `resolutionMs` (libuv's timer, so it sees exactly the delays a socket read waits
 * behind: a read is stamped when the loop gets to it, and a loop busy for X ms stamps up to X ms
 * late). Thread CPU, not process CPU: a server in a worker thread of the same process (as in the
 * tests) is not the client.
 */
export function startClientLoad(options: { resolutionMs?: number } = {}): ClientLoadMonitor {
  const resolutionMs = options.resolutionMs ?? 5;
  const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  histogram.enable();
  const cpu = process.threadCpuUsage();
  const processCpu = process.cpuUsage();
  const start = performance.now();
  return {
    stop: () => {
      const wallS = (performance.now() - start) / 1000;
      const used = process.threadCpuUsage(cpu);
      const processUsed = process.cpuUsage(processCpu);
      histogram.disable();
      const cpuS = (used.user + used.system) / 1e6;
      // The histogram holds whole timer intervals (ns); the lag is what exceeds the period.
      const lag = (ns: number) => (histogram.count > 0 ? Math.max(0, ns / 1e6 - resolutionMs) : Number.NaN);
      return {
        wallS,
        cpuS,
        cpuShare: wallS > 0 ? cpuS / wallS : 0,
        loopDelayP50Ms: lag(histogram.percentile(50)),
        loopDelayP99Ms: lag(histogram.percentile(99)),
        loopDelayMaxMs: lag(histogram.max),
        parseCpuS: 0,
        processCpuS: (processUsed.user + processUsed.system) / 1e6,
        processSysS: processUsed.system / 1e6,
      };
    },
  };
}

/** Thresholds of {@link clientBoundFindings}. */
export interface ClientBoundLimits {
  /**
   * A window in which the client's thread was busy more than this share of the time was
   * client-bound: past it the client reads sockets late and holds the server back. @default 0.7
   */
  maxCpuShare?: number;
  /**
   * A window whose median event-loop lag exceeded this many ms was client-bound: reads (and so
   * timestamps) waited that long behind other work, whatever took the CPU. @default 1
   */
  maxLoopDelayP50Ms?: number;
  /**
   * Windows shorter than this many seconds are not judged: their share and lag are made of a
   * handful of timer ticks and the window's own start-up (a 0.00 s window read "84% busy").
   * @default 0.1
   */
  minWindowS?: number;
}

/**
 * The finding for an arm whose measurement was limited by the measuring client rather than the
 * server, with the figures: one line naming every repetition over a limit, or none. It is the
 * referee's limitation, never a verdict against the server (see findingsAgainstServer). Pure.
 */
export function clientBoundFindings(loads: readonly ClientLoad[], limits: ClientBoundLimits = {}): string[] {
  const maxShare = limits.maxCpuShare ?? 0.7;
  const maxLag = limits.maxLoopDelayP50Ms ?? 1;
  const minWindow = limits.minWindowS ?? 0.1;
  const over = loads
    .map((load, repetition) => ({ load, repetition }))
    .filter(({ load }) => load.wallS >= minWindow)
    .filter(({ load }) => load.cpuShare > maxShare || load.loopDelayP50Ms > maxLag);
  if (over.length === 0) return [];
  const figures = over
    .map(
      ({ load, repetition }) =>
        `repetition ${repetition}: client busy ${(load.cpuShare * 100).toFixed(0)}% of ${load.wallS.toFixed(2)} s, event loop late ${load.loopDelayP50Ms.toFixed(2)} ms median / ${load.loopDelayP99Ms.toFixed(2)} ms p99`,
    )
    .join("; ");
  return [
    `${clientBoundKind}: the measuring client, not the server, limited ${over.length} of ${loads.length} repetition(s) (${figures}; limits ${(maxShare * 100).toFixed(0)}% busy, ${maxLag} ms median lag): its timestamps may be late and it may have held the server back`,
  ];
}
