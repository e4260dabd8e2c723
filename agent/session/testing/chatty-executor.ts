import { create } from "@bufbuild/protobuf";
import {
  JobProgressSchema,
  RequestMetricsBatchSchema,
} from "../../../shared/gen/cacheon/v1/agent_service_pb.ts";
import { RequestMetricsSchema } from "../../../shared/gen/cacheon/v1/metrics_pb.ts";
import { JobResultSchema } from "../../../shared/gen/cacheon/v1/result_pb.ts";
import type { JobExecutor } from "../../job/job-executor.ts";

/**
 * A real, small JobExecutor for transport tests: emits `events` events (progress lines and
 * metrics batches, alternating), yielding to the event loop every `yieldEvery` so the network
 * runs meanwhile, and honours cancellation. The thing under test is the transport, not this.
 */
export function chattyExecutor(options: {
  events: number;
  yieldEvery?: number;
  pauseMs?: number;
}): JobExecutor {
  return async (job, { signal, emit }) => {
    const started = Date.now();
    for (let i = 1; i <= options.events; i++) {
      signal.throwIfAborted();
      if (i % 2 === 0) {
        emit({
          case: "metrics",
          value: create(RequestMetricsBatchSchema, {
            jobId: job.jobId,
            metrics: [create(RequestMetricsSchema, {})],
          }),
        });
      } else {
        emit({
          case: "progress",
          value: create(JobProgressSchema, {
            jobId: job.jobId,
            phase: "measure",
            done: i,
            total: options.events,
          }),
        });
      }
      if (i % (options.yieldEvery ?? 50) === 0) {
        await new Promise((resolve) => setTimeout(resolve, options.pauseMs ?? 0));
      }
    }
    return create(JobResultSchema, {
      jobId: job.jobId,
      completed: true,
      startedAtUnixMs: BigInt(started),
      finishedAtUnixMs: BigInt(Date.now()),
    });
  };
}
