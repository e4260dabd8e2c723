import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { RequestMetricsSchema, TokenCountSource } from "../../shared/gen/cacheon/v1/metrics_pb.ts";
import { summariseArm } from "./summarise-arm.ts";

const req = (over: Record<string, unknown>) =>
  create(RequestMetricsSchema, {
    ok: true,
    ttftMs: 100,
    e2eMs: 1000,
    tpotMs: 10,
    outputTokens: 91,
    tokenCountSource: TokenCountSource.LOGPROBS,
    ...over,
  });

describe("summariseArm", () => {
  it("summarises ok requests, counts failures by code and uses the weakest token-count source", () => {
    const s = summariseArm({
      armId: "a",
      requests: [
        req({ requestIndex: 0 }),
        req({ requestIndex: 1, ttftMs: 300, tokenCountSource: TokenCountSource.USAGE }),
        req({ requestIndex: 2, ok: false, failure: "stall", ttftMs: 9999 }),
        req({ requestIndex: 3, ok: false, failure: "stall" }),
      ],
      repetitionWallS: [2, 2.2, 1.8],
      itlMs: [10, 20, 30],
    });
    expect(s).toMatchObject({
      armId: "a",
      requests: 4,
      completed: 2,
      failed: 2,
      wallS: 2,
      failuresByCode: { stall: 2 },
    });
    expect(s.outputTokens).toBe(182n);
    expect(s.outputTokensPerS).toBeCloseTo(182 / 6, 10);
    expect(s.requestsPerS).toBeCloseTo(2 / 6, 10);
    expect(s.ttftMs?.mean).toBe(200);
    expect(s.ttftMs?.max).toBe(300);
    expect(s.itlMs?.p50).toBe(20);
    expect(s.tokenCountSource).toBe(TokenCountSource.USAGE);
    expect(s.wallCv).toBeCloseTo(0.1, 10);
    expect(s.findings).toEqual([]);
  });

  it("reports flagged usage disagreements and gives zeros for an arm with nothing measured", () => {
    const s = summariseArm({ armId: "b", requests: [], repetitionWallS: [], itlMs: [], usageMismatches: 3 });
    expect(s.wallS).toBe(0);
    expect(s.outputTokensPerS).toBe(0);
    expect(s.ttftMs?.count).toBe(0);
    expect(s.findings).toEqual([
      "3 request(s) reported usage.completion_tokens different from the tokens streamed",
    ]);
  });
});

describe("summariseArm with the client's own load", () => {
  const window = (cpuShare: number, loopDelayP50Ms: number) => ({
    wallS: 2,
    cpuS: 2 * cpuShare,
    cpuShare,
    loopDelayP50Ms,
    loopDelayP99Ms: 2 * loopDelayP50Ms,
    loopDelayMaxMs: 3 * loopDelayP50Ms,
    parseCpuS: 0.4,
    processCpuS: 2 * cpuShare + 0.1,
    processSysS: 0.3,
  });
  const base = { armId: "c", requests: [req({})], repetitionWallS: [2, 2], itlMs: [] };

  it("reports each repetition's load and flags an arm the client could not keep up with", () => {
    const s = summariseArm({ ...base, clientLoad: [window(0.3, 0.1), window(0.95, 6)] });
    expect(s.clientLoad).toHaveLength(2);
    expect(s.clientLoad[1]).toMatchObject({ wallS: 2, cpuShare: 0.95, loopDelayP50Ms: 6, parseCpuS: 0.4 });
    expect(s.findings).toHaveLength(1);
    expect(s.findings[0]).toMatch(
      /^client-bound: .* limited 1 of 2 repetition\(s\) \(repetition 1: client busy 95% /,
    );
  });

  it("stays quiet for a client with room to spare, and honours the arm's limits", () => {
    expect(summariseArm({ ...base, clientLoad: [window(0.3, 0.1)] }).findings).toEqual([]);
    expect(
      summariseArm({ ...base, clientLoad: [window(0.3, 0.1)], limits: { maxCpuShare: 0.2 } }).findings,
    ).toHaveLength(1);
    expect(summariseArm(base).clientLoad).toEqual([]);
  });
});

describe("summariseArm and repeats", () => {
  it("raises no cache finding from the arm's own repetitions: those are judged against the baseline's", () => {
    // An honest server's first repetition on a busy machine: 1.4x slower than the later ones. The
    // arm's own first time is no reference (judgeProbes compares its repeats with the baseline's).
    const requests = [0, 1, 2].flatMap((repetition) =>
      [0, 1].map((requestIndex) =>
        req({
          repetition,
          requestIndex,
          promptId: `p${requestIndex}`,
          e2eMs: repetition === 0 ? 1400 : 1000,
        }),
      ),
    );
    expect(summariseArm({ armId: "a", requests, repetitionWallS: [1.4, 1, 1], itlMs: [] }).findings).toEqual(
      [],
    );
  });
});
