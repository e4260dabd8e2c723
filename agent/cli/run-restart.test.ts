// The agent as pods run it (`cacheon-agent run`, a real child process) is killed with SIGKILL in the
// middle of an arm and started again: the controller hears the job's outcome, nothing of the
// killed run is left on the engine (its containers would hold the GPUs), and the next job runs on
// free GPUs, as the replayed nvidia-smi shows them once the leftovers are gone.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ControlPlane } from "../../controller/control-plane/control-plane.ts";
import {
  type ControlPlaneServer,
  startControlPlaneServer,
} from "../../controller/control-plane/control-plane-server.ts";
import { SqliteControlPlaneStore } from "../../controller/control-plane/control-plane-store.ts";
import type { JobFailed } from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import { ArmRole, EvaluationJobSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { ArmOutcome, type JobResult } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { parseImageReference } from "../../shared/image/image-reference.ts";
import { testServices } from "../../test/support/services.ts";
import { ruleComment } from "../containers/host-firewall.ts";
import { findPulledImage } from "../containers/pull-image.ts";
import { buildHostileImage } from "../containers/testing/hostile-image.ts";
import { pushTestImage } from "../containers/testing/node-test-image.ts";

const root = join(import.meta.dirname, "..", "..");
const services = testServices();
const docker = new Docker({ socketPath: services.dockerSocket });
const dir = mkdtempSync(join(tmpdir(), "cacheon-k9-"));
const fixtures = join(root, "test", "fixtures", "nvidia-smi");
const job1 = `k9-${process.pid}-job-1`;
const job2 = `k9-${process.pid}-job-2`;
let store: SqliteControlPlaneStore;
let controlPlane: ControlPlane;
let server: ControlPlaneServer;
let baseline: string;
let challenger: string;
const children: ChildProcess[] = [];
let agentLog = "";

/**
 * nvidia-smi as this machine would show it if the GPUs were real: the busy capture of a real H200
 * (a process holding GPU 0) while any container of the killed job is left on the engine, the idle
 * capture otherwise.
 */
const smi = join(dir, "nvidia-smi");
writeFileSync(
  smi,
  `#!/usr/bin/env bash
if [ -n "$(docker ps -aq --filter label=cacheon.job=${job1})" ]; then state=busy; else state=idle; fi
NVSMI_FIXTURE_DIR="${fixtures}/h200-x2-firecracker/$state" exec "${fixtures}/nvidia-smi-replay" "$@"
`,
);
chmodSync(smi, 0o755);

beforeAll(async () => {
  store = new SqliteControlPlaneStore();
  controlPlane = new ControlPlane({ store, heartbeatIntervalMs: 500, heartbeatDeadlineMs: 5000 });
  server = await startControlPlaneServer({ controlPlane });
  const local = await buildHostileImage(docker, "serve,slow");
  baseline = await pushTestImage(
    docker,
    local,
    `${services.registry}/cacheon-test/hostile:${local.split(":")[1]}`,
  );
  // A challenger image the engine does not have: the job pulls it, the kill leaves it behind.
  const unique = await buildHostileImage(docker, `serve,slow,k9-${process.pid}-${Date.now()}`);
  const remote = `${services.registry}/cacheon-test/hostile:${unique.split(":")[1]}`;
  challenger = await pushTestImage(docker, unique, remote);
  for (const name of [unique, remote]) await docker.getImage(name).remove();
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  server?.close();
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `cacheon-agent run` as a pod's systemd unit starts it (a token only for the first start). */
function startAgent(token?: string): ChildProcess {
  const args = [
    join(root, "agent", "cli", "main.ts"),
    "run",
    "--controller",
    `http://127.0.0.1:${server.port}`,
    "--pod",
    "pod-k9",
    "--state",
    join(dir, "state", "agent-credential.json"),
    "--profile",
    "none",
    "--nvidia-smi",
    smi,
    "--cpus",
    "1",
    "--memory-mib",
    "256",
    "--nofile",
    "4096",
    "--json",
    ...(token ? ["--token", token] : []),
  ];
  const child = spawn(process.execPath, args, {
    env: {
      PATH: process.env.PATH,
      DOCKER_SOCKET: services.dockerSocket,
      CACHEON_ALLOW_NVIDIA_SMI_REPLAY: "1",
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  child.stderr?.on("data", (d) => {
    agentLog += d;
  });
  children.push(child);
  return child;
}

function evaluation(jobId: string, arms: Array<[string, ArmRole, string]>, repetitions: number) {
  return create(EvaluationJobSchema, {
    jobId,
    roundId: "r-k9",
    roundSeed: "abcd",
    hardwareProfile: "none",
    workload: {
      promptSource: "bundled:cacheon-chat-v1",
      requests: 2,
      warmupRequests: 1,
      // The slow hostile server streams 20 one-token chunks a request.
      maxTokens: 32,
      requestTimeoutMs: 10_000,
      stallTimeoutMs: 10_000,
      repetitions,
      model: "hostile",
      arrival: { process: { case: "closedLoop", value: { concurrency: 1 } } },
    },
    arms: arms.map(([armId, role, ref]) => ({ armId, role, image: parseImageReference(ref) })),
  });
}

const labelled = async (owner: string) => {
  const filters = JSON.stringify({ label: [`cacheon.agent=${owner}`] });
  return {
    containers: (await docker.listContainers({ all: true, filters })).length,
    networks: (await docker.listNetworks({ filters })).length,
    rules: execFileSync("iptables", ["-w", "5", "-S", "INPUT"], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l.includes(ruleComment(owner))).length,
  };
};
const gpuProcesses = () =>
  execFileSync(smi, ["-q", "-x"], { encoding: "utf8" }).match(/<process_name>([^<]*)</g)?.length ?? 0;

describe("cacheon-agent run, killed with SIGKILL mid-arm and restarted", () => {
  it("reports the interrupted job, removes what the killed run left, and runs the next job on free GPUs", async () => {
    const { token } = controlPlane.mintEnrolmentToken("pod-k9", 60_000);
    const measuring = new Promise<void>((resolve) =>
      controlPlane.addListener({
        event: (_agent, e) => {
          if (
            e.payload.case === "progress" &&
            e.payload.value.jobId === job1 &&
            e.payload.value.armId === "b0"
          ) {
            if (e.payload.value.phase === "measure" && e.payload.value.done >= 1) resolve();
          }
        },
      }),
    );
    const first = startAgent(token);
    await expect.poll(() => controlPlane.connectedAgents().length, { timeout: 60_000 }).toBe(1);
    const agentId = controlPlane.connectedAgents()[0]?.agentId as string;
    await controlPlane.assignJob(
      agentId,
      evaluation(
        job1,
        [
          ["b0", ArmRole.OPENING_BASELINE, baseline],
          ["c1", ArmRole.CHALLENGER, challenger],
          ["b9", ArmRole.CLOSING_BASELINE, baseline],
        ],
        20,
      ),
    );
    const endedEarly = new Promise<never>((_resolve, reject) =>
      controlPlane.addListener({
        jobFinished: (_a, r) =>
          r.jobId === job1 && reject(new Error(`job 1 ended before the kill: ${r.reason}\n${agentLog}`)),
      }),
    );
    await Promise.race([measuring, endedEarly]);
    first.kill("SIGKILL");
    await new Promise((resolve) => first.once("exit", resolve));

    // What the killed run left: b0's container (holding "the GPUs"), the job's network, its
    // firewall rule, and the challenger's image pulled ahead.
    const left = await labelled(agentId);
    expect(left.containers, agentLog).toBeGreaterThanOrEqual(1);
    expect(left.networks).toBe(1);
    expect(left.rules).toBe(1);
    expect(gpuProcesses()).toBe(1);
    expect(await findPulledImage(docker, parseImageReference(challenger))).toBeDefined();
    const storedBefore = controlPlane.events(agentId).length;

    const failed = new Promise<JobFailed>((resolve) =>
      controlPlane.addListener({ jobFailed: (_a, f) => f.jobId === job1 && resolve(f) }),
    );
    startAgent();
    const failure = await failed;
    expect(failure.retryable).toBe(true);
    expect(failure.reason).toMatch(/the agent restarted while running the job .*no arm is to blame/);
    // Nothing of the killed run is left, and nothing of anyone else's was touched (scoped by id).
    await expect
      .poll(() => labelled(agentId), { timeout: 30_000 })
      .toEqual({ containers: 0, networks: 0, rules: 0 });
    expect(gpuProcesses()).toBe(0);
    expect(await findPulledImage(docker, parseImageReference(challenger))).toBeUndefined();
    // Every event of both runs stored once, in one unbroken sequence.
    const seqs = controlPlane.events(agentId).map((e) => Number(e.seq));
    expect(seqs.length).toBeGreaterThan(storedBefore);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));

    // The next job: the idle gate before each arm reads free GPUs, and both arms are measured.
    const finished = new Promise<JobResult>((resolve) =>
      controlPlane.addListener({ jobFinished: (_a, r) => r.jobId === job2 && resolve(r) }),
    );
    await expect
      .poll(() => controlPlane.connectedAgents().map((a) => a.openJobIds), { timeout: 30_000 })
      .toEqual([[]]);
    await controlPlane.assignJob(
      agentId,
      evaluation(
        job2,
        [
          ["b0", ArmRole.OPENING_BASELINE, baseline],
          ["b9", ArmRole.CLOSING_BASELINE, baseline],
        ],
        1,
      ),
    );
    const result = await finished;
    expect(result.completed, `${result.reason}\n${agentLog.slice(-3000)}`).toBe(true);
    expect(result.arms.map((a) => a.outcome)).toEqual([ArmOutcome.MEASURED, ArmOutcome.MEASURED]);
  }, 240_000);
});
