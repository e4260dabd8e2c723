// Pod mode end to end: a real control plane over loopback, `cacheon-agent run` as a real child
// process (and in-process for the refusals), the real Docker engine and the sim images.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { create, fromBinary } from "@bufbuild/protobuf";
import Docker from "dockerode";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ControlPlane } from "../../controller/control-plane/control-plane.ts";
import { startControlPlaneServer } from "../../controller/control-plane/control-plane-server.ts";
import { SqliteControlPlaneStore } from "../../controller/control-plane/control-plane-store.ts";
import { runCli } from "../../shared/cli/cli-command.ts";
import { HardwareReportSchema } from "../../shared/gen/cacheon/v1/hardware_pb.ts";
import { ArmRole, EvaluationJobSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { ArmOutcome, type JobResult } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { parseImageReference } from "../../shared/image/image-reference.ts";
import { readSimImageManifest } from "../../sim-llm/images/sim-image-manifest.ts";
import { testServices } from "../../test/support/services.ts";
import { removeJobObjects } from "../containers/job-network.ts";
import { agentProgram } from "./main.ts";

const root = join(import.meta.dirname, "..", "..");
const services = testServices();
const docker = new Docker({ socketPath: services.dockerSocket });
const fixtures = join(root, "test", "fixtures", "nvidia-smi");
const replay = join(fixtures, "nvidia-smi-replay");
const tmp = mkdtempSync(join(tmpdir(), "cacheon-run-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function controller() {
  const store = new SqliteControlPlaneStore();
  const controlPlane = new ControlPlane({ store, heartbeatIntervalMs: 1000, heartbeatDeadlineMs: 15_000 });
  const server = await startControlPlaneServer({ controlPlane });
  cleanups.push(
    () => store.close(),
    () => server.close(),
  );
  const agentUp = new Promise<string>((resolve) =>
    controlPlane.addListener({ sessionChanged: (agentId, up) => up && resolve(agentId) }),
  );
  return { store, controlPlane, url: `http://127.0.0.1:${server.port}`, agentUp };
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

/** `cacheon-agent run ...` in this process, with its own abort signal. */
function runInProcess(args: string[], env: Record<string, string | undefined>) {
  const stop = new AbortController();
  const stderr = new PassThrough();
  let err = "";
  stderr.on("data", (d) => {
    err += d;
  });
  const code = runCli({
    ...agentProgram,
    argv: ["run", ...args],
    io: { stdout: new PassThrough(), stderr, env, signal: stop.signal },
  });
  return { code, stop, stderr: () => err };
}

describe("cacheon-agent run (pod mode)", () => {
  it("probes the hardware, enrols with the report, and is refused when the token is used again", async () => {
    const { store, controlPlane, url, agentUp } = await controller();
    const { token } = controlPlane.mintEnrolmentToken("pod-hw", 60_000);
    const env = {
      PATH: process.env.PATH,
      DOCKER_SOCKET: services.dockerSocket,
      NVSMI_FIXTURE_DIR: join(fixtures, "h200-x2"),
    };
    const args = ["--controller", url, "--token", token, "--pod", "pod-hw", "--nvidia-smi", replay];
    const agent = runInProcess([...args, "--state", join(tmp, "hw.json")], env);
    const agentId = await within(agentUp, 30_000, "the agent's session");
    agent.stop.abort();
    expect(await agent.code).toBe(0);
    // The default profile is h200x8: the 2x H200 capture falls short for its GPU count, and the
    // controller holds the report that says so.
    const report = fromBinary(HardwareReportSchema, store.agent(agentId)?.hardware ?? new Uint8Array());
    expect(report.profile).toBe("h200x8");
    expect(report.ok).toBe(false);
    expect(report.gpus).toHaveLength(2);
    expect(report.failures.map((f) => f.rule)).toContain("gpu-count");
    expect(report.fingerprint?.nvidiaSmiPath).toBe(replay);
    expect(agent.stderr()).toMatch(/hardware does not meet the profile; enrolling with the report/);

    const again = runInProcess([...args, "--state", join(tmp, "again.json")], env);
    expect(await again.code).toBe(1);
    expect(again.stderr()).toMatch(/cacheon-agent run: .*(used|refused|invalid|unknown)/i);
  }, 60_000);

  it("exits 2 before enrolling for an unknown profile or a GPU profile without nvidia-smi", async () => {
    const env = { PATH: process.env.PATH, DOCKER_SOCKET: services.dockerSocket };
    // Port 9 (discard) on loopback: reaching the enrolment would give another error.
    const base = ["--controller", "http://127.0.0.1:9", "--token", "cpe_x", "--pod", "p"];
    const unknown = runInProcess([...base, "--profile", "a100x3", "--state", join(tmp, "u.json")], env);
    expect(await unknown.code).toBe(2);
    expect(unknown.stderr()).toMatch(/unknown hardware profile "a100x3"/);
    const noSmi = runInProcess(
      [...base, "--profile", "h100x8", "--nvidia-smi", join(tmp, "none"), "--state", join(tmp, "n.json")],
      env,
    );
    expect(await noSmi.code).toBe(2);
    expect(noSmi.stderr()).toMatch(/nvidia-smi not found .*--nvidia-smi PATH/);
    const badLimit = runInProcess([...base, "--profile", "none", "--nofile", "1.5"], env);
    expect(await badLimit.code).toBe(2);
    expect(badLimit.stderr()).toMatch(/--nofile must be a positive integer, got "1.5"/);
  });

  it("runs a sim-image job sent by the controller as a child process and streams back a complete result", async () => {
    execFileSync(join(root, "scripts", "build-sim-images"), [], { stdio: "ignore" });
    const manifest = readSimImageManifest(join(root, ".cacheon", "sim-images.json"));
    const ref = (name: string) => parseImageReference(manifest.images[name]?.reference ?? "");
    const { store, controlPlane, url, agentUp } = await controller();
    const { token } = controlPlane.mintEnrolmentToken("pod-e2e", 60_000);
    const child: ChildProcess = spawn(
      process.execPath,
      [
        join(root, "agent", "cli", "main.ts"),
        "run",
        ...["--controller", url, "--token", token, "--pod", "pod-e2e", "--profile", "none"],
        ...["--state", join(tmp, "e2e.json"), "--json"],
        // This 2-core engine cannot grant the subnet's defaults (32 CPUs, 200 GiB, 65536 files).
        ...["--cpus", "1", "--memory-mib", "512", "--nofile", "4096"],
      ],
      { env: { ...process.env, DOCKER_SOCKET: services.dockerSocket }, stdio: ["ignore", "ignore", "pipe"] },
    );
    let log = "";
    child.stderr?.on("data", (d) => {
      log += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill("SIGKILL");
      await exited;
    });

    const agentId = await within(agentUp, 60_000, `the agent's session (agent log: ${log})`);
    expect(
      fromBinary(HardwareReportSchema, store.agent(agentId)?.hardware ?? new Uint8Array()),
    ).toMatchObject({
      profile: "none",
      ok: true,
    });
    const finished = new Promise<JobResult>((resolve) =>
      controlPlane.addListener({ jobFinished: (_a, result) => resolve(result) }),
    );
    const jobId = `test-pod-mode-${process.pid}`;
    await controlPlane.assignJob(
      agentId,
      create(EvaluationJobSchema, {
        jobId,
        roundId: "r-e2e",
        roundSeed: "e2e5",
        hardwareProfile: "none",
        workload: {
          promptSource: "bundled:cacheon-chat-v1",
          requests: 2,
          warmupRequests: 0,
          maxTokens: 8,
          topLogprobs: 5,
          requestTimeoutMs: 20_000,
          stallTimeoutMs: 10_000,
          repetitions: 1,
          promptChars: 300,
          model: "Qwen/Qwen2.5-72B-Instruct",
          arrival: { process: { case: "closedLoop", value: { concurrency: 1 } } },
        },
        arms: [
          { armId: "baseline-open", role: ArmRole.OPENING_BASELINE, image: ref("baseline") },
          { armId: "faster", role: ArmRole.CHALLENGER, image: ref("faster") },
          { armId: "baseline-close", role: ArmRole.CLOSING_BASELINE, image: ref("baseline") },
        ],
      }),
    );
    const result = await within(finished, 240_000, `the job result (agent log: ${log.slice(-2000)})`);

    expect(result.jobId).toBe(jobId);
    expect(result.completed, result.reason).toBe(true);
    expect(result.hardware?.profile).toBe("none");
    expect(result.hardware?.ok).toBe(true);
    expect(result.arms.map((a) => [a.armId, a.outcome])).toEqual([
      ["baseline-open", ArmOutcome.MEASURED],
      ["faster", ArmOutcome.MEASURED],
      ["baseline-close", ArmOutcome.MEASURED],
    ]);
    const faster = result.arms[1];
    expect(faster?.summary?.requests).toBe(2);
    expect(faster?.correctness?.passed).toBe(true);
    // Teacher forced by the closing baseline, every output, with tolerances the bookends calibrated.
    expect(faster?.correctness?.thresholds).toContain("teacher_forcing=done");
    expect(faster?.correctness?.promptsEvidence.map((e) => e.teacherForcedTokens > 0)).toEqual([true, true]);
    expect(faster?.correctness?.thresholds.join("\n")).toMatch(/^calibrated maxTokenGap=/m);
    expect(faster?.tokenK).toHaveLength(2);
    expect(faster?.image?.repoDigests).toContain(manifest.images.faster?.reference);
    // The controller's record holds the streamed events too: one arm-finished per arm, then the result.
    const events = controlPlane.events(agentId);
    expect(events.filter((e) => e.payload.case === "armFinished")).toHaveLength(3);
    expect(events.filter((e) => e.payload.case === "metrics").length).toBeGreaterThanOrEqual(6);
    expect(events.at(-1)?.payload.case).toBe("jobFinished");

    child.kill("SIGTERM");
    expect(await within(exited, 30_000, "the agent to stop")).toBe(0);
    expect(await removeJobObjects({ docker, jobId })).toEqual({ containers: 0, networks: 0 });
  }, 300_000);
});
