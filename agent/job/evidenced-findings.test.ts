import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ArmSummarySchema } from "../../shared/gen/cacheon/v1/metrics_pb.ts";
import { type ArmResult, ArmResultSchema, GpuActivitySchema } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { evidencedFindings } from "./evidenced-findings.ts";
import { gpuProofFindings } from "./gpu-proof.ts";

// Figures shaped like the real 4x H200 sampler captures (test/fixtures/nvidia-smi/
// nvidia-h200-x4-real/gpu-activity-{busy,idle}.json): a matrix-product loop kept its GPU near
// 97%, an idle GPU read 0%.
const gpu = (index: number, mean: number, armProcess: boolean) => ({
  index,
  uuid: `GPU-${index}`,
  samples: 10,
  meanUtilizationPercent: mean,
  maxUtilizationPercent: mean,
  activeFraction: mean > 0 ? 1 : 0,
  maxMemoryUsedMib: armProcess ? 9205n : 4n,
  pids: armProcess ? [972] : [],
  armProcess,
});
const busy = create(GpuActivitySchema, {
  intervalMs: 500,
  windowS: 5,
  gpus: [gpu(0, 97.3, true), gpu(1, 0, false)],
  containerPids: [972],
});
const idle = create(GpuActivitySchema, {
  intervalMs: 500,
  windowS: 5,
  gpus: [gpu(0, 0, true), gpu(1, 0, false)],
  containerPids: [972],
});
const idleFindings = gpuProofFindings(idle, { expectedGpus: 2 });
const clientBound = "client-bound: the measuring client used 97% of a core in repetition 1";
const forged =
  "no process of the arm's container held memory on any GPU while it was timed: its answers did not come from the GPUs";

const armWith = (findings: string[], activity?: typeof busy): ArmResult =>
  create(ArmResultSchema, {
    armId: "c1",
    summary: create(ArmSummarySchema, { armId: "c1", findings }),
    ...(activity ? { gpuActivity: activity } : {}),
  });

describe("evidencedFindings", () => {
  it("finds the idle figures' findings in the capture-shaped data it is tested with", () => {
    expect(idleFindings).toHaveLength(1);
    expect(idleFindings[0]).toMatch(/stayed idle/);
    expect(gpuProofFindings(busy, { expectedGpus: 2 })).toEqual([]);
  });

  it.each<[string, ArmResult, number, { findings: string[]; unexplained: string[]; missing: string[] }]>([
    [
      "an honest record: busy figures, a client-bound finding",
      armWith([clientBound], busy),
      2,
      { findings: [clientBound], unexplained: [], missing: [] },
    ],
    [
      "an honest record of idle figures",
      armWith([clientBound, ...idleFindings], idle),
      2,
      { findings: [clientBound, ...idleFindings], unexplained: [], missing: [] },
    ],
    [
      "a finding written against a server whose figures show it busy",
      armWith([forged], busy),
      2,
      { findings: [], unexplained: [forged], missing: [] },
    ],
    [
      "idle figures whose finding was left out",
      armWith([], idle),
      2,
      { findings: idleFindings, unexplained: [], missing: idleFindings },
    ],
    [
      "figures removed with their finding, where GPUs were expected",
      armWith([]),
      2,
      {
        findings: ["GPU use during the timed window could not be proven: 0 of 2 GPUs sampled"],
        unexplained: [],
        missing: ["GPU use during the timed window could not be proven: 0 of 2 GPUs sampled"],
      },
    ],
    [
      "a job without GPUs, with a finding written into it",
      armWith([forged]),
      0,
      { findings: [], unexplained: [forged], missing: [] },
    ],
    [
      "an arm never measured (no summary): nothing to prove",
      create(ArmResultSchema, { armId: "c1" }),
      2,
      { findings: [], unexplained: [], missing: [] },
    ],
  ])("%s", (_, judgedFrom, expectedGpus, expected) => {
    expect(evidencedFindings(judgedFrom, expectedGpus)).toEqual(expected);
  });
});
