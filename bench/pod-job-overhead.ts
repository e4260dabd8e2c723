// Benchmark: share of a 6-arm pod job's wall time spent measuring versus pulling, starting and
// tearing down, with pulls on demand (lookahead 0), ahead of the arm that needs them while arms
// are timed (lookahead 1, no pause), and ahead but paused while an arm is timed (the default: a
// pull still running when timing should start is let finish first). Images are removed locally
// before each run, so every pull is real (through the registry gate, from the registry on
// loopback). Run: node bench/pod-job-overhead.ts [--runs N] [--pad-mb N]
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import Docker from "dockerode";
import { runWorkload } from "../agent/bench/run-workload.ts";
import { findPulledImage } from "../agent/containers/pull-image.ts";
import { buildNodeTestImage, pushTestImage } from "../agent/containers/testing/node-test-image.ts";
import type { JobEventPayload } from "../agent/job/job-executor.ts";
import { runPodJob } from "../agent/job/run-pod-job.ts";
import { ArmRole, EvaluationJobSchema } from "../shared/gen/cacheon/v1/job_pb.ts";
import { ArmOutcome } from "../shared/gen/cacheon/v1/result_pb.ts";
import { parseImageReference } from "../shared/image/image-reference.ts";
import { testServices } from "../test/support/services.ts";

const { values } = parseArgs({
  options: { runs: { type: "string", default: "2" }, "pad-mb": { type: "string", default: "40" } },
});
const runs = Number(values.runs);
const padBytes = Number(values["pad-mb"]) * 1024 * 1024;
const services = testServices();
const docker = new Docker({ socketPath: services.dockerSocket });
const mib = 1024 * 1024;

// Five distinct images (the baseline runs twice): the hostile test server streaming slowly, each
// with its own random layer so no two share all their content.
const source = readFileSync(
  join(import.meta.dirname, "..", "agent", "containers", "testing", "hostile-server.ts"),
);
const refs: string[] = [];
for (let i = 0; i < 5; i++) {
  const local = await buildNodeTestImage({
    docker,
    repository: "cacheon-test/bench-arm",
    area: "bench",
    files: { "hostile-server.ts": source, "pad.bin": randomBytes(padBytes) },
    cmd: [
      "/bin/node",
      "--disable-warning=ExperimentalWarning",
      "/app/hostile-server.ts",
      "--mode=serve,slow",
    ],
  });
  const remote = `${services.registry}/cacheon-test/bench-arm:${local.split(":")[1]}`;
  refs.push(await pushTestImage(docker, local, remote));
  await docker.getImage(local).remove({ force: true });
  await docker.getImage(remote).remove({ force: true });
}

const roles = [
  ArmRole.OPENING_BASELINE,
  ArmRole.LEADER,
  ArmRole.RUNNER_UP,
  ArmRole.CHALLENGER,
  ArmRole.CHALLENGER,
  ArmRole.CLOSING_BASELINE,
];
const imageOfArm = [0, 1, 2, 3, 4, 0];

async function removeImages(): Promise<void> {
  for (const ref of refs) {
    // Pulled through the gate, an image is named after the gate's port: find it by digest.
    const id = await findPulledImage(docker, parseImageReference(ref));
    if (id)
      await docker
        .getImage(id)
        .remove({ force: true })
        .catch(() => {});
  }
}

interface Breakdown {
  wall: number;
  measuring: number;
  /** Time arms waited, ready to be timed, for a pull to finish. */
  pauseWait: number;
  /** Mean timed wall time of the arms, s (what scoring compares). */
  armWallS: number;
  pullWait: number;
  startReady: number;
  teardown: number;
  ok: boolean;
}

async function runOnce(lookahead: number, pausePulls: boolean): Promise<Breakdown> {
  await removeImages();
  const job = create(EvaluationJobSchema, {
    jobId: `bench-${lookahead}-${Date.now()}`,
    roundSeed: "beef",
    hardwareProfile: "none",
    workload: {
      promptSource: "bundled:cacheon-chat-v1",
      requests: 2,
      warmupRequests: 1,
      maxTokens: 32,
      requestTimeoutMs: 10_000,
      stallTimeoutMs: 5_000,
      repetitions: 2,
      model: "hostile",
      arrival: { process: { case: "closedLoop", value: { concurrency: 1 } } },
    },
    arms: roles.map((role, i) => ({
      armId: `a${i}`,
      role,
      image: parseImageReference(refs[imageOfArm[i] ?? 0] ?? ""),
    })),
  });
  // Phase boundaries from the job's own progress events.
  let phase = "";
  let since = performance.now();
  const spent: Record<string, number> = {};
  const mark = (next: string) => {
    const t = performance.now();
    spent[phase] = (spent[phase] ?? 0) + (t - since);
    phase = next;
    since = t;
  };
  let measuring = 0;
  let pauseWait = 0;
  let readyAt = Number.NaN;
  const t0 = performance.now();
  since = t0;
  const result = await runPodJob(
    job,
    {
      signal: new AbortController().signal,
      emit: (e: JobEventPayload) => {
        if (e.case === "progress" && e.value.phase === "measure" && phase !== "measure")
          readyAt = performance.now();
        if (e.case === "progress" && e.value.phase !== phase) mark(e.value.phase);
      },
    },
    {
      docker,
      pullLookahead: lookahead,
      pausePullsWhileTimed: pausePulls,
      stopGraceS: 2,
      readyIntervalMs: 100,
      limits: { memoryBytes: 512 * mib, cpus: 1, pidsLimit: 128, shmBytes: 64 * mib, nofile: 4096 },
      measure: async (input) => {
        const m0 = performance.now();
        if (!Number.isNaN(readyAt)) pauseWait += m0 - readyAt;
        readyAt = Number.NaN;
        try {
          const run = await runWorkload({ ...input, logger: input.logger });
          return { summary: run.summary, requests: run.requests, outputs: run.outputs, prompts: run.prompts };
        } finally {
          measuring += performance.now() - m0;
        }
      },
    },
  );
  mark("end");
  const wall = performance.now() - t0;
  const measured = result.arms.filter((a) => a.outcome === ArmOutcome.MEASURED);
  return {
    wall,
    measuring,
    pauseWait,
    armWallS: measured.reduce((sum, a) => sum + (a.summary?.wallS ?? 0), 0) / Math.max(1, measured.length),
    pullWait: spent.pull ?? 0,
    startReady: spent.start ?? 0,
    teardown: spent.teardown ?? 0,
    ok: result.completed && result.arms.every((a) => a.outcome === ArmOutcome.MEASURED),
  };
}

const pct = (x: number, of: number) => `${((100 * x) / of).toFixed(1)}%`;
const modes: Array<[string, number, boolean]> = [
  ["on demand", 0, true],
  ["ahead, timed during pulls", 1, false],
  ["ahead, paused while timed", 1, true],
];
const rows: Array<[string, Breakdown]> = [];
for (let r = 0; r < runs; r++) {
  for (const [name, lookahead, pause] of modes) rows.push([name, await runOnce(lookahead, pause)]);
}
await removeImages();

console.log(
  `6-arm pod job, 5 distinct images (~${Math.round(padBytes / mib)} MB own layer + shared node layer), ${runs} run(s) each`,
);
console.log(
  "pulls                     | wall s | measuring | waiting on pulls | paused before timing | start+ready | teardown | other | arm timed wall s | all measured",
);
for (const [name, b] of rows) {
  const other = b.wall - b.measuring - b.pullWait - b.startReady - b.teardown;
  console.log(
    `${name.padEnd(25)} | ${(b.wall / 1000).toFixed(2).padStart(6)} | ${pct(b.measuring, b.wall).padStart(9)} | ${pct(b.pullWait, b.wall).padStart(16)} | ${pct(b.pauseWait, b.wall).padStart(20)} | ${pct(b.startReady, b.wall).padStart(11)} | ${pct(b.teardown, b.wall).padStart(8)} | ${pct(Math.max(0, other), b.wall).padStart(5)} | ${b.armWallS.toFixed(3).padStart(16)} | ${b.ok}`,
  );
}
const mean = (name: string, f: (b: Breakdown) => number) => {
  const xs = rows.filter(([n]) => n === name).map(([, b]) => f(b));
  return xs.reduce((sum, x) => sum + x, 0) / xs.length;
};
const [demand, during, paused] = modes.map(([name]) => name) as [string, string, string];
console.log(
  `ratio paused/during wall time: ${(mean(paused, (b) => b.wall) / mean(during, (b) => b.wall)).toFixed(3)}; paused/on-demand: ${(mean(paused, (b) => b.wall) / mean(demand, (b) => b.wall)).toFixed(3)}`,
);
console.log(
  `cost of pausing: ${(mean(paused, (b) => b.pauseWait) / 1000).toFixed(2)} s per job waiting for pulls before timing (${pct(
    mean(paused, (b) => b.pauseWait),
    mean(paused, (b) => b.wall),
  )} of its wall time); arm timed wall during pulls / paused: ${(mean(during, (b) => b.armWallS) / mean(paused, (b) => b.armWallS)).toFixed(3)}`,
);
