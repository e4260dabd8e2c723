import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { type AgentEvent, AgentEventSchema } from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import { classifySeq, eventJobId, validateEventPayload } from "./event-validation.ts";
import { TokenBucket } from "./rate-limiter.ts";
import { resolveSessionLimits } from "./session-limits.ts";

const limits = resolveSessionLimits();
const event = (payload: AgentEvent["payload"], at = 1n): AgentEvent =>
  create(AgentEventSchema, { seq: 7n, atUnixMs: at, payload });

describe("classifySeq", () => {
  it("accepts the next seq, drops stored ones, refuses gaps, reordering and nonsense", () => {
    expect(classifySeq(11, { storedSeq: 10, sessionSeq: 0 })).toBe("new");
    expect(classifySeq(3, { storedSeq: 10, sessionSeq: 2 })).toBe("duplicate");
    expect(() => classifySeq(13, { storedSeq: 10, sessionSeq: 0 })).toThrow(
      /skips ahead of the last stored 10; resend from 11/,
    );
    expect(() => classifySeq(5, { storedSeq: 10, sessionSeq: 5 })).toThrow(/does not increase/);
    expect(() => classifySeq(0, { storedSeq: 0, sessionSeq: 0 })).toThrow(/positive integer/);
  });
});

describe("validateEventPayload", () => {
  it("accepts well-formed events and finds their job", () => {
    const e = event({ case: "progress", value: { jobId: "j", phase: "pull" } as never });
    expect(() => validateEventPayload(e, limits)).not.toThrow();
    expect(eventJobId(e)).toBe("j");
  });

  it("refuses each malformed or oversized payload with the field named", () => {
    const cases: [AgentEvent, RegExp][] = [
      [event({ case: undefined }), /no payload/],
      [event({ case: "progress", value: { jobId: "j" } as never }, 0n), /at_unix_ms is not set/],
      [event({ case: "progress", value: { jobId: "" } as never }), /progress.job_id is empty/],
      [event({ case: "progress", value: { jobId: "x".repeat(257) } as never }), /longer than 256/],
      [
        event({ case: "log", value: { jobId: "j", text: "x".repeat(64 * 1024 + 1) } as never }),
        /log excerpt of 65537 bytes/,
      ],
      [
        event({ case: "metrics", value: { jobId: "j", metrics: new Array(4097).fill({}) } as never }),
        /metrics batch of 4097/,
      ],
      [
        event({ case: "artefact", value: { jobId: "j", name: "a", sha256: "XYZ" } as never }),
        /sha256 is not 64 lowercase hex/,
      ],
      [event({ case: "armFinished", value: { jobId: "j" } as never }), /arm_finished.result is not set/],
      [event({ case: "jobFinished", value: {} as never }), /job_finished.result is not set/],
      [
        event({ case: "jobFailed", value: { jobId: "j", reason: "r".repeat(9000) } as never }),
        /job_failed.reason is longer/,
      ],
    ];
    for (const [e, message] of cases)
      expect(() => validateEventPayload(e, limits), String(message)).toThrow(message);
  });

  it("refuses limits that are not positive", () => {
    expect(() => resolveSessionLimits({ messagesPerSecond: 0, maxIdLength: -1 })).toThrow(
      /messagesPerSecond=0, maxIdLength=-1/,
    );
  });
});

describe("TokenBucket", () => {
  it("lets a burst through, then asks to wait for the debt at the sustained rate", () => {
    const bucket = new TokenBucket({ ratePerSecond: 100, burst: 3, nowMs: 0 });
    expect([bucket.take(1, 0), bucket.take(1, 0), bucket.take(1, 0)]).toEqual([0, 0, 0]);
    expect(bucket.take(1, 0)).toBe(10);
    expect(bucket.take(1, 20)).toBe(0);
  });
});
