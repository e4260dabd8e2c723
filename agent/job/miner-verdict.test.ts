import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ArmRole, EvaluationJobSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { ArmOutcome, JobResultSchema } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { minerVerdicts } from "./miner-verdict.ts";

const job = create(EvaluationJobSchema, {
  jobId: "j",
  arms: [
    { armId: "b0", role: ArmRole.OPENING_BASELINE },
    { armId: "c1", role: ArmRole.CHALLENGER },
    { armId: "c2", role: ArmRole.CHALLENGER },
    { armId: "c3", role: ArmRole.CHALLENGER },
    { armId: "b9", role: ArmRole.CLOSING_BASELINE },
  ],
});

function result(arms: Array<[string, ArmOutcome, number, boolean | undefined]>) {
  return create(JobResultSchema, {
    arms: arms.map(([armId, outcome, wallS, passed]) => ({
      armId,
      outcome,
      reason: outcome === ArmOutcome.MEASURED ? "" : "it broke",
      summary: { wallS },
      ...(passed === undefined
        ? {}
        : {
            correctness: { passed, prompts: 4, promptsFailed: passed ? 0 : 2, reasons: ["divergent token"] },
          }),
    })),
  });
}

describe("minerVerdicts", () => {
  it("measures speed against the mean of the baselines and lists what disqualifies", () => {
    const v = minerVerdicts(
      job,
      result([
        ["b0", ArmOutcome.MEASURED, 10, undefined],
        ["c1", ArmOutcome.MEASURED, 8, true],
        ["c2", ArmOutcome.MEASURED, 5, false],
        ["c3", ArmOutcome.NEVER_READY, 0, undefined],
        ["b9", ArmOutcome.MEASURED, 10.4, undefined],
      ]),
    );
    expect(v.map((x) => x.armId)).toEqual(["c1", "c2", "c3"]);
    expect(v[0]?.baselineWallS).toBeCloseTo(10.2);
    expect(v[0]?.improvement).toBeCloseTo((10.2 - 8) / 10.2);
    expect(v[0]?.baselineNoise).toBeCloseTo(0.4 / 10.2);
    expect(v[0]?.disqualifications).toEqual([]);
    expect(v[1]?.correct).toBe(false);
    expect(v[1]?.disqualifications[0]).toMatch(/correctness failed on 2 of 4 prompts: divergent token/);
    expect(v[2]?.outcome).toBe("NEVER_READY");
    expect(v[2]?.wallS).toBeNaN();
    expect(v[2]?.disqualifications[0]).toMatch(/^NEVER_READY: it broke — serve GET \/health/);
  });

  it("says speed cannot be judged without a measured baseline", () => {
    const v = minerVerdicts(
      job,
      result([
        ["b0", ArmOutcome.CRASHED, 0, undefined],
        ["c1", ArmOutcome.MEASURED, 8, undefined],
      ]),
    );
    expect(v[0]?.improvement).toBeNaN();
    expect(v[0]?.disqualifications.join("\n")).toMatch(/no baseline was measured/);
    expect(v[0]?.disqualifications.join("\n")).toMatch(/correctness could not be judged/);
    expect(v[1]?.disqualifications[0]).toMatch(/^UNSPECIFIED: not run/);
  });
});
