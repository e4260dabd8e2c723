import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  JobFailedSchema,
  JobFinishedSchema,
  LogExcerptSchema,
} from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import { JobResultSchema } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { EventOutbox } from "./event-outbox.ts";

const finished = (jobId: string) =>
  ({
    case: "jobFinished",
    value: create(JobFinishedSchema, { result: create(JobResultSchema, { jobId }) }),
  }) as const;
const failed = (jobId: string) =>
  ({ case: "jobFailed", value: create(JobFailedSchema, { jobId, reason: "x", retryable: true }) }) as const;
const log = { case: "log", value: create(LogExcerptSchema, { text: "line" }) } as const;

describe("EventOutbox.unreportedJobId", () => {
  it("names the job whose outcome is still unacknowledged, and none once the controller stored it", () => {
    const outbox = new EventOutbox();
    expect(outbox.unreportedJobId()).toBeUndefined();
    outbox.add(log);
    expect(outbox.unreportedJobId()).toBeUndefined();
    outbox.add(finished("job-1"));
    outbox.add(log);
    expect(outbox.unreportedJobId()).toBe("job-1");
    outbox.add(failed("job-2"));
    expect(outbox.unreportedJobId()).toBe("job-2");
    outbox.ack(3);
    expect(outbox.unreportedJobId()).toBe("job-2");
    outbox.ack(4);
    expect(outbox.unreportedJobId()).toBeUndefined();
  });
});
