import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ArmRole, ArmSchema, EvaluationJobSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { launchLimits, launchProblems, validateJob } from "./validate-job.ts";

const mib = 1024 * 1024;
const arm = (launch: Parameters<typeof create<typeof ArmSchema>>[1]) => create(ArmSchema, launch);

describe("launchProblems", () => {
  it("accepts the stock vLLM recipe: args, cache env and cache tmpfs dirs", () => {
    expect(
      launchProblems(
        arm({
          args: ["--model", "/model", "--served-model-name", "Qwen/Qwen2.5-72B-Instruct"],
          env: { HOME: "/cacheon/home", TRITON_CACHE_DIR: "/cacheon/triton" },
          writableDirs: [
            { path: "/cacheon/home", sizeBytes: BigInt(64 * mib) },
            { path: "/cacheon/triton", sizeBytes: BigInt(4096 * mib) },
          ],
        }),
      ),
    ).toEqual([]);
    expect(launchProblems(arm({}))).toEqual([]);
  });

  it.each([
    ["PORT in env (the agent probes its own port)", { env: { PORT: "9000" } }, /may not set PORT/],
    ["a bad env name", { env: { "A-B": "x" } }, /env name "A-B" is not valid/],
    ["a NUL in args", { args: ["--x\0y"] }, /NUL/],
    ["an oversized spec", { args: ["x".repeat(launchLimits.maxSpecBytes)] }, /at most 65536/],
    ["a relative dir", { writableDirs: [{ path: "cache", sizeBytes: BigInt(mib) }] }, /absolute/],
    ["a dir with ..", { writableDirs: [{ path: "/a/../etc", sizeBytes: BigInt(mib) }] }, /normalised/],
    ["the root", { writableDirs: [{ path: "/", sizeBytes: BigInt(mib) }] }, /absolute/],
    ["a dir over /model", { writableDirs: [{ path: "/model/x", sizeBytes: BigInt(mib) }] }, /under one of/],
    ["a dir at /proc", { writableDirs: [{ path: "/proc", sizeBytes: BigInt(mib) }] }, /under one of/],
    ["a tiny dir", { writableDirs: [{ path: "/c", sizeBytes: 10n }] }, /size 10 bytes/],
    ["a huge dir", { writableDirs: [{ path: "/c", sizeBytes: BigInt(2 ** 40) }] }, /size \d+ bytes/],
    [
      "a dir twice",
      {
        writableDirs: [
          { path: "/c", sizeBytes: BigInt(mib) },
          { path: "/c", sizeBytes: BigInt(mib) },
        ],
      },
      /given twice/,
    ],
  ] as const)("refuses %s", (_what, launch, problem) => {
    expect(launchProblems(arm(launch as never)).join("; ")).toMatch(problem);
  });
});

describe("validateJob: interleaved order", () => {
  const pinned = { repository: "127.0.0.1:5000/cacheon/baseline", digest: `sha256:${"a".repeat(64)}` };
  const job = (roles: ArmRole[]) =>
    create(EvaluationJobSchema, {
      jobId: "j",
      roundSeed: "ab",
      workload: { model: "m", requests: 1 },
      arms: roles.map((role, i) => ({ armId: `a${i}`, role, image: pinned })),
    });
  const { OPENING_BASELINE: O, INTERIM_BASELINE: I, CLOSING_BASELINE: C, CHALLENGER: X } = ArmRole;

  it("accepts blocks with an interim baseline between them, the same image in several arms", () => {
    expect(validateJob(job([O, X, I, X, C]))).toEqual([]);
  });

  it("refuses an interim baseline with no closing baseline after it", () => {
    for (const roles of [
      [O, X, I, X],
      [O, X, C, X, I],
    ])
      expect(validateJob(job(roles)).join("\n")).toMatch(
        /interim baseline must be followed by a closing baseline/,
      );
  });
});
