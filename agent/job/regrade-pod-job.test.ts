// Acceptance of issue 19 item 2: the evidence bundles of a real pod job (the reference server
// images in containers on the real Docker engine, judged by the agent) are judged again offline by
// `cacheon-agent regrade` with the same verdict for every arm: an honest challenger, a cheat failed
// on correctness, a cheat flagged by a finding. Tampered, forged, unlisted and missing bundles are
// refused or named, never judged in part.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJsonBytes, parseCanonicalJson, sha256Hex } from "../../shared/evidence/canonical-json.ts";
import { decodeEvidence } from "../../shared/evidence/evidence-bundle.ts";
import type { EvaluationJob } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { ArmOutcome, type JobResult } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { qwenTokenizer } from "../../shared/tokenizer/qwen-tokenizer.ts";
import { captureCli } from "../../test/support/capture-cli.ts";
import { testServices } from "../../test/support/services.ts";
import { agentProgram } from "../cli/main.ts";
import { removeJobObjects } from "../containers/job-network.ts";
import { regradeJob, verdictLine } from "./regrade-job.ts";
import { runPodJob } from "./run-pod-job.ts";
import { armResult, poolWorkload, simImageJob } from "./testing/sim-image-job.ts";

const docker = new Docker({ socketPath: testServices().dockerSocket });
const mib = 1024 * 1024;

let job: EvaluationJob;
let result: JobResult;
/** Each bundle as the agent handed it over for upload, by artefact name. */
const handed = new Map<string, Uint8Array>();
const dirs: string[] = [];

beforeAll(async () => {
  job = simImageJob({
    jobId: `test-regrade-${process.pid}`,
    roundSeed: "5eed19",
    challengers: ["faster", "truncate", "partial-replay"],
    workload: poolWorkload,
  });
  result = await runPodJob(
    job,
    {
      signal: new AbortController().signal,
      emit: () => {},
      artefact: (name, body) => handed.set(name, body),
    },
    {
      docker,
      limits: { memoryBytes: 768 * mib, cpus: 1, pidsLimit: 256, shmBytes: 64 * mib, nofile: 4096 },
      stopGraceS: 2,
      readyIntervalMs: 100,
      startupTimeoutS: { baseline: 60, challenger: 30 },
      agentVersion: "test",
    },
  );
}, 900_000);

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A folder holding the job's bundles as published: `<sha256>.json`. */
function published(): string {
  const dir = mkdtempSync(join(tmpdir(), "regrade-"));
  dirs.push(dir);
  for (const e of result.evidence) {
    const body = handed.get(e.name);
    if (!body) throw new Error(`no bundle handed over for ${e.name}`);
    writeFileSync(join(dir, `${e.sha256}.json`), body);
  }
  return dir;
}

/** The round summary's part regrade reads: each arm's digest. */
function summaryFile(dir: string): string {
  const file = join(dir, "..", `${dir.split("/").pop()}-summary.json`);
  writeFileSync(
    file,
    JSON.stringify({
      schema: "cacheon.round-summary.v1",
      jobs: [
        {
          jobId: job.jobId,
          arms: result.evidence.map((e) => ({ armId: e.armId, evidence: { digest: `sha256:${e.sha256}` } })),
        },
      ],
    }),
  );
  return file;
}

const fileOf = (dir: string, armId: string) =>
  join(dir, `${result.evidence.find((e) => e.armId === armId)?.sha256}.json`);

/** A bundle rewritten by someone and encoded again canonically (a new digest). */
function forged(dir: string, armId: string, change: (wire: Record<string, any>) => void): string {
  const wire = parseCanonicalJson(readFileSync(fileOf(dir, armId))) as Record<string, any>;
  change(wire);
  const bytes = canonicalJsonBytes(wire);
  const file = join(dir, `${sha256Hex(bytes)}.json`);
  writeFileSync(file, bytes);
  return file;
}

describe("regrading a pod job's evidence bundles", () => {
  it("the job made one bundle per arm, named in its result by the sha256 of exactly the bytes handed over", () => {
    expect(result.completed, result.reason).toBe(true);
    for (const arm of result.arms)
      expect(arm.outcome, `${arm.armId}: ${arm.reason}`).toBe(ArmOutcome.MEASURED);
    expect(result.evidence.map((e) => e.armId)).toEqual(job.arms.map((a) => a.armId));
    for (const e of result.evidence) {
      const body = handed.get(e.name) as Uint8Array;
      expect(sha256Hex(body)).toBe(e.sha256);
      const bundle = decodeEvidence(body, { expectedSha256: e.sha256 });
      expect(bundle.measurement?.outputs.length).toBeGreaterThan(0);
      expect(bundle.measurement?.outputs[0]?.tokenTimesMs?.length).toBeGreaterThan(0);
      expect(bundle.teacherForced).toMatchObject({ by: "baseline-close", state: "done" });
      expect(bundle.containerLog.text.length).toBeGreaterThan(0);
    }
    // The three verdicts the regrade must reproduce: a pass, a correctness failure, a finding.
    expect(armResult(result, "faster").correctness?.passed).toBe(true);
    expect(armResult(result, "truncate").correctness?.passed).toBe(false);
    expect(armResult(result, "partial-replay").summary?.findings.join("\n")).toMatch(/^repeat-speedup: /m);
  });

  it("reaches the same verdict for every arm, by the agent's own judging code", async () => {
    const bundles = result.evidence.map((e) => decodeEvidence(handed.get(e.name) as Uint8Array));
    const again = await regradeJob(bundles, { tokenizer: qwenTokenizer() });
    expect(again.missing).toEqual([]);
    for (const arm of again.arms) {
      expect(arm.differences, arm.armId).toEqual([]);
      expect(arm.regraded).toBe(verdictLine(armResult(result, arm.armId)));
    }
    expect(again.arms.find((a) => a.armId === "truncate")?.regraded).toMatch(/^fail \(.*premature-stop/);
    expect(again.arms.find((a) => a.armId === "partial-replay")?.regraded).toMatch(/flagged: repeat-speedup/);
    expect(again.same).toBe(true);
  });

  it("cacheon-agent regrade says the same from the published files and the round summary (exit 0)", async () => {
    const dir = published();
    const { code, out } = await captureCli(agentProgram, ["regrade", "--summary", summaryFile(dir), dir]);
    expect(out).toMatch(new RegExp(`^job ${job.jobId} .*: SAME verdicts$`, "m"));
    expect(out).not.toMatch(/DIFFERS|REFUSED|missing/);
    expect(code).toBe(0);
    const json = await captureCli(agentProgram, ["regrade", dir, "--json"]);
    expect(JSON.parse(json.out).jobs[0].arms.map((a: { same: boolean }) => a.same)).toEqual(
      job.arms.map(() => true),
    );
  });

  it("refuses a bundle changed after publication (one logprob), and cannot judge the job without it", async () => {
    const dir = published();
    const file = fileOf(dir, "truncate");
    const text = readFileSync(file, "utf8");
    const changed = text.replace(/"logprob":(-[0-9.e-]+)/, (_m, lp) => `"logprob":${Number(lp) / 2}`);
    expect(changed).not.toBe(text);
    writeFileSync(file, changed);
    const { code, out } = await captureCli(agentProgram, ["regrade", "--summary", summaryFile(dir), dir]);
    expect(out).toMatch(
      /REFUSED .*: the bundle has sha256 [0-9a-f]{64}, not the [0-9a-f]{64} it should have/,
    );
    expect(out).toMatch(/missing bundles: truncate/);
    expect(code).toBe(1);
  });

  it("a validator's forged verdict (truncate recorded as a pass) is judged again a fail, and unlisted in the summary", async () => {
    const dir = published();
    const original = fileOf(dir, "truncate");
    const file = forged(dir, "truncate", (wire) => {
      wire.result.correctness.passed = true;
      wire.result.correctness.promptsEvidence = [];
    });
    rmSync(original);
    const bare = await captureCli(agentProgram, ["regrade", dir]);
    expect(bare.out).toMatch(
      /DIFFERS truncate \(challenger\)\n\s+recorded:\s+pass\n\s+judged again: fail \(.*premature-stop/,
    );
    expect(bare.code).toBe(1);
    // Against the digests the round published, the forgery is not even read.
    const listed = await captureCli(agentProgram, ["regrade", "--summary", summaryFile(dir), dir]);
    expect(listed.out).toContain(`REFUSED ${file}: its sha256`);
    expect(listed.code).toBe(1);
  });

  it("a finding forged against the honest challenger, recorded before judging, is named as not given by its evidence", async () => {
    const dir = published();
    const original = fileOf(dir, "faster");
    const finding =
      "no process of the arm's container held memory on any GPU while it was timed: its answers did not come from the GPUs";
    forged(dir, "faster", (wire) => {
      wire.judgedFrom.summary.findings = [...(wire.judgedFrom.summary.findings ?? []), finding];
      wire.result.summary.findings = [...(wire.result.summary.findings ?? []), finding];
    });
    rmSync(original);
    const { code, out } = await captureCli(agentProgram, ["regrade", dir]);
    expect(out).toMatch(/DIFFERS faster \(challenger\)\n\s+recorded:\s+pass; flagged: no process/);
    expect(out).toContain(`recorded before judging, not given by its evidence: ${finding}`);
    expect(out).toMatch(/judged again: pass\n/);
    expect(code).toBe(1);
  });

  it("names a job whose baseline bundle is missing as not judgeable, never passed", async () => {
    const dir = published();
    rmSync(fileOf(dir, "baseline-close"));
    const { code, out } = await captureCli(agentProgram, ["regrade", dir]);
    expect(out).toMatch(/NOT the same/);
    expect(out).toMatch(/cannot judge: no bundle of baseline-close/);
    expect(out).toMatch(/missing bundles: baseline-close/);
    expect(code).toBe(1);
  });

  it("leaves no container or network behind", async () => {
    expect(await removeJobObjects({ docker, jobId: job.jobId })).toEqual({ containers: 0, networks: 0 });
  });
});
