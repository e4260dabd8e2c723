import { create } from "@bufbuild/protobuf";
import { Gauge } from "prom-client";
import { describe, expect, it } from "vitest";
import { type AgentEvent, AgentEventSchema } from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import { seededRandom } from "../../test/support/seeded-random.ts";
import { LoopMonitor } from "../health/loop-monitor.ts";
import { runScenarioRound } from "../rounds/testing/sim-scenario.ts";
import { openStore } from "../store/controller-store.ts";
import { AgentPhaseClock } from "./agent-phase-clock.ts";
import { createControllerMetrics } from "./controller-metrics.ts";

const progress = (at: number, jobId: string, phase: string, armId = "arm-1"): AgentEvent =>
  create(AgentEventSchema, {
    seq: 1n,
    atUnixMs: BigInt(at),
    payload: { case: "progress", value: { jobId, armId, phase } },
  });
const finished = (at: number, jobId: string): AgentEvent =>
  create(AgentEventSchema, {
    seq: 1n,
    atUnixMs: BigInt(at),
    payload: { case: "jobFinished", value: { result: { jobId } } },
  });
const failed = (at: number, jobId: string): AgentEvent =>
  create(AgentEventSchema, {
    seq: 1n,
    atUnixMs: BigInt(at),
    payload: { case: "jobFailed", value: { jobId, reason: "x" } },
  });

describe("AgentPhaseClock", () => {
  const cases: [string, [string, AgentEvent][], { phase: string; seconds: number }[]][] = [
    ["one phase, no end yet", [["a", progress(0, "j", "pull")]], []],
    [
      "repeated progress of one phase ends nothing",
      [
        ["a", progress(0, "j", "measure")],
        ["a", progress(5_000, "j", "measure")],
      ],
      [],
    ],
    [
      "the next phase ends the last, the job's end ends the open one",
      [
        ["a", progress(0, "j", "pull")],
        ["a", progress(12_000, "j", "start")],
        ["a", progress(40_000, "j", "measure")],
        ["a", finished(100_000, "j")],
      ],
      [
        { phase: "pull", seconds: 12 },
        { phase: "start", seconds: 28 },
        { phase: "measure", seconds: 60 },
      ],
    ],
    [
      "the next arm's same phase ends the last arm's",
      [
        ["a", progress(0, "j", "measure", "arm-1")],
        ["a", progress(30_000, "j", "measure", "arm-2")],
      ],
      [{ phase: "measure", seconds: 30 }],
    ],
    [
      "jobs and agents are timed apart; a failed job ends its phase",
      [
        ["a", progress(0, "j1", "pull")],
        ["b", progress(1_000, "j1", "pull")],
        ["a", progress(2_000, "j2", "pull")],
        ["b", failed(4_000, "j1")],
        ["a", progress(10_000, "j1", "start")],
      ],
      [
        { phase: "pull", seconds: 3 },
        { phase: "pull", seconds: 10 },
      ],
    ],
    [
      "an agent clock stepping back gives 0, not a negative time",
      [
        ["a", progress(10_000, "j", "pull")],
        ["a", progress(4_000, "j", "start")],
      ],
      [{ phase: "pull", seconds: 0 }],
    ],
    ["an end of an unknown job ends nothing", [["a", finished(1, "nope")]], []],
  ];
  for (const [name, events, expected] of cases) {
    it(name, () => {
      const clock = new AgentPhaseClock();
      expect(events.flatMap(([agent, e]) => clock.observe(agent, e))).toEqual(expected);
    });
  }

  it("forgets the oldest job beyond its limit (agents lost mid-job)", () => {
    const clock = new AgentPhaseClock({ maxJobs: 2 });
    clock.observe("a", progress(0, "j1", "pull"));
    clock.observe("a", progress(0, "j2", "pull"));
    clock.observe("a", progress(0, "j3", "pull"));
    expect(clock.openJobs).toBe(2);
    expect(clock.observe("a", finished(5_000, "j1"))).toEqual([]);
    expect(clock.observe("a", finished(5_000, "j3"))).toEqual([{ phase: "pull", seconds: 5 }]);
  });
});

describe("createControllerMetrics", () => {
  it("times rounds, jobs and agent phases, counts events by agent and pods by state, and takes others' metrics", async () => {
    const store = openStore({ path: ":memory:" });
    const round = await runScenarioRound(store);
    if (!round) throw new Error("no round");
    let now = Date.now();
    const monitor = new LoopMonitor({ now: () => now });
    monitor.register("rounds", { stuckAfterMs: 1000 }).passSucceeded();
    const metrics = createControllerMetrics({
      store,
      loops: () => monitor.statuses(),
      now: () => now,
      processMetrics: false,
    });
    metrics.observeRoundStep({ kind: "round-settled", roundId: round.id, jobsDone: 1, jobsTotal: 1 });
    const jobs = store.jobs.list(round.id);
    for (const job of jobs)
      metrics.observeRoundStep({
        kind: "job-finished",
        roundId: round.id,
        jobId: job.id,
        jobsDone: 1,
        jobsTotal: 1,
      });
    metrics.observeAgentEvent("agent-1", progress(0, "j", "pull"));
    metrics.observeAgentEvent("agent-1", progress(90_000, "j", "measure"));
    metrics.observeAgentEvent("agent-1", finished(100_000, "j"));
    metrics.observeAgentEvent("agent-2", progress(0, "k", "pull"));
    metrics.watchPods(() => [{ state: "busy" }, { state: "busy" }, { state: "idle" }]);
    // Another helper's metric, read at scrape.
    new Gauge({
      name: "cacheon_controller_example",
      help: "An added metric.",
      registers: [metrics.registry],
      collect() {
        this.set(42);
      },
    });
    now += 5000;
    const text = await metrics.text();
    expect(text).toMatch(/^cacheon_controller_round_duration_seconds_count\{state="settled"\} 1$/m);
    const jobCount = [...text.matchAll(/^cacheon_controller_job_duration_seconds_count\{[^}]*\} (\d+)$/gm)]
      .map((m) => Number(m[1]))
      .reduce((a, b) => a + b, 0);
    expect(jobCount).toBe(jobs.filter((j) => j.startedAt && j.finishedAt).length);
    expect(jobCount).toBeGreaterThan(1);
    expect(text).toMatch(
      /^cacheon_controller_job_duration_seconds_count\{phase="evaluate",state="done"\} \d+$/m,
    );
    expect(text).toMatch(/^cacheon_controller_agent_phase_duration_seconds_sum\{phase="pull"\} 90$/m);
    expect(text).toMatch(
      /^cacheon_controller_agent_phase_duration_seconds_bucket\{le="60",phase="measure"\} 1$/m,
    );
    expect(text).toMatch(/^cacheon_controller_agent_events_total\{agent="agent-1",kind="progress"\} 2$/m);
    expect(text).toMatch(/^cacheon_controller_agent_events_total\{agent="agent-1",kind="jobFinished"\} 1$/m);
    expect(text).toMatch(/^cacheon_controller_agent_events_total\{agent="agent-2",kind="progress"\} 1$/m);
    expect(text).toMatch(/^cacheon_controller_pods\{state="busy"\} 2$/m);
    expect(text).toMatch(/^cacheon_controller_pods\{state="requested"\} 0$/m);
    expect(text).toMatch(/^cacheon_controller_loop_passes_total\{loop="rounds"\} 1$/m);
    expect(text).toMatch(/^cacheon_controller_rounds_total 1$/m);
    expect(text).toMatch(/^cacheon_controller_submissions\{state="copy"\} 1$/m);
    expect(text).toMatch(/^cacheon_controller_example 42$/m);
    expect(text).not.toMatch(/^process_/m);

    // Weights confirmed 5 s ago are 5 s old; before any, the age is +Inf.
    expect(text).toMatch(/^cacheon_controller_weights_age_seconds \+Inf$/m);
    const intent = store.weightSettings.insertIntent({
      block: 70,
      uids: [2],
      weights: [65535],
      key: "k",
      reason: "r",
    });
    store.weightSettings.update(intent.id, { state: "confirmed", confirmedBlock: 71 });
    now += 5000;
    const later = await metrics.text();
    expect(later).toMatch(/^cacheon_controller_weights_confirmed_block 71$/m);
    const age = Number(/^cacheon_controller_weights_age_seconds (\S+)$/m.exec(later)?.[1]);
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(3600);
  });
});

describe("the exposition under hostile label values", () => {
  it("escapes 200 seeded agent ids (quotes, backslashes, newlines, unicode) so every line parses and reads back", async () => {
    const store = openStore({ path: ":memory:" });
    const metrics = createControllerMetrics({ store, processMetrics: false });
    const alphabet = ['"', "\\", "\n", "}", "{", ",", "=", " ", "é", "☃", "a", "0", "#"];
    const ids = new Set<string>();
    for (let seed = 1; seed <= 200; seed += 1) {
      const r = seededRandom(seed);
      const id = Array.from(
        { length: 1 + Math.floor(r() * 12) },
        () => alphabet[Math.floor(r() * alphabet.length)],
      ).join("");
      ids.add(id);
      metrics.observeAgentEvent(id, progress(seed, "j", "pull"));
    }
    const text = await metrics.text();
    const label = String.raw`"(?:[^"\\\n]|\\.)*"`;
    const sample = new RegExp(
      String.raw`^(\w+)(\{\w+=${label}(?:,\w+=${label})*\})? (-?[\d.e+-]+|[+-]Inf|NaN)$`,
    );
    for (const line of text.split("\n").filter((l) => l !== "" && !l.startsWith("# ")))
      expect(line, JSON.stringify(line)).toMatch(sample);
    const readBack = [
      ...text.matchAll(
        new RegExp(
          String.raw`^cacheon_controller_agent_events_total\{agent=(${label}),kind="progress"\} \d+$`,
          "gm",
        ),
      ),
    ].map((m) => (m[1] as string).slice(1, -1).replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c)));
    expect(new Set(readBack)).toEqual(ids);
  });
});
