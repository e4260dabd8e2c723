import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { AgentEvent } from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import type { LoopStatus } from "../health/loop-monitor.ts";
import { type PodState, podStates } from "../pods/pod-state.ts";
import type { RoundStep } from "../rounds/run-round.ts";
import type { Standing } from "../scoring/settle-standing.ts";
import type { ControllerStore } from "../store/controller-store.ts";
import { AgentPhaseClock } from "./agent-phase-clock.ts";

/** Options of {@link createControllerMetrics}. */
export interface ControllerMetricsOptions {
  /** Read at each scrape for submissions, rounds, standing and weights. */
  store: ControllerStore;
  /** The controller's loops (LoopMonitor.statuses), read at each scrape. @default no loops */
  loops?: () => LoopStatus[];
  /** Clock, ms since the epoch (weights age). @default Date.now */
  now?: () => number;
  /** Node process metrics (CPU, memory, event-loop lag, GC, handles). @default true */
  processMetrics?: boolean;
}

/**
 * The controller's Prometheus metrics, one prom-client registry. Others add their own metric to
 * `registry` (`new Gauge({ name: "cacheon_controller_...", help, registers: [metrics.registry],
 * collect() { this.set(...) } })`) and feed the observers below; /metrics prints it all.
 */
export interface ControllerMetrics {
  readonly registry: Registry;
  /** Seconds from a round's creation to its settlement. */
  readonly roundDuration: Histogram<"state">;
  /** Seconds of each job attempt on its pod, by round phase (evaluate, reproduce) and end state. */
  readonly jobDuration: Histogram<"phase" | "state">;
  /** Seconds of each phase of a job on an agent (pull, start, warmup, measure, ...), by the agent's clock. */
  readonly agentPhaseDuration: Histogram<"phase">;
  /** Events stored from each agent, by kind (progress, metrics, armFinished, log, ...). */
  readonly agentEvents: Counter<"agent" | "kind">;
  /** Feeds a round's progress (RoundEngineOptions.onStep): settled rounds and finished jobs are timed. */
  observeRoundStep(step: RoundStep): void;
  /** Feeds one stored agent event (ControlPlaneListener.event). */
  observeAgentEvent(agentId: string, event: AgentEvent): void;
  /** Reports pods by state from now on (the fleet's pods, read at each scrape). */
  watchPods(pods: () => readonly { state: PodState }[]): void;
  /** The exposition text. */
  text(): Promise<string>;
  /** Content type of {@link text}. */
  readonly contentType: string;
}

const minute = 60;
const hour = 3600;

/** Creates the registry with the store, loop, process, round, job, pod and agent metrics. */
export function createControllerMetrics(options: ControllerMetricsOptions): ControllerMetrics {
  const { store } = options;
  const now = options.now ?? Date.now;
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  // One read of the store per scrape, shared by the metrics that show it.
  let snapshot: { atMs: number; value: ReturnType<typeof readStore> } | undefined;
  const fromStore = () => {
    const t = now();
    if (!snapshot || t - snapshot.atMs > 1000) snapshot = { atMs: t, value: readStore(store) };
    return snapshot.value;
  };

  new Gauge({
    name: "cacheon_controller_submissions",
    help: "Submissions by state.",
    labelNames: ["state"],
    registers,
    collect() {
      this.reset();
      for (const [state, n] of Object.entries(fromStore().submissions)) this.set({ state }, n);
    },
  });
  new Counter({
    name: "cacheon_controller_rounds_total",
    help: "Rounds created.",
    registers,
    collect() {
      this.reset();
      this.inc(fromStore().rounds);
    },
  });
  new Gauge({
    name: "cacheon_controller_round_open",
    help: "1 while a round is in progress.",
    registers,
    collect() {
      this.set(fromStore().openJobs ? 1 : 0);
    },
  });
  new Gauge({
    name: "cacheon_controller_open_round_jobs",
    help: "Job attempts of the open round by state.",
    labelNames: ["state"],
    registers,
    collect() {
      this.reset();
      for (const [state, n] of Object.entries(fromStore().openJobs ?? {})) this.set({ state }, n);
    },
  });
  new Gauge({
    name: "cacheon_controller_leader_speed",
    help: "Leader's settled speed against the baseline (0 = none).",
    registers,
    collect() {
      this.set(fromStore().standing.leader?.settledSpeed ?? 0);
    },
  });
  new Gauge({
    name: "cacheon_controller_runner_up_speed",
    help: "Runner-up's settled speed against the baseline (0 = none).",
    registers,
    collect() {
      this.set(fromStore().standing.runnerUp?.settledSpeed ?? 0);
    },
  });
  new Counter({
    name: "cacheon_controller_weight_settings_total",
    help: "Weight settings by outcome.",
    labelNames: ["state"],
    registers,
    collect() {
      this.reset();
      for (const [state, n] of Object.entries(fromStore().weightsByState)) this.inc({ state }, n);
    },
  });
  new Gauge({
    name: "cacheon_controller_weights_confirmed_block",
    help: "Block of the last confirmed weights (0 = never).",
    registers,
    collect() {
      this.set(fromStore().confirmed?.block ?? 0);
    },
  });
  new Gauge({
    name: "cacheon_controller_weights_age_seconds",
    help: "Seconds since the last weights were confirmed on chain (+Inf = never): alert when it nears the chain's activity cutoff.",
    registers,
    collect() {
      const at = fromStore().confirmed?.atMs;
      this.set(at === undefined ? Number.POSITIVE_INFINITY : Math.max(0, (now() - at) / 1000));
    },
  });

  const loops = options.loops;
  if (loops) {
    const perLoop = (
      name: string,
      help: string,
      value: (l: LoopStatus) => number,
      type: "gauge" | "counter",
    ) => {
      const collect = function (this: Gauge<"loop"> | Counter<"loop">) {
        this.reset();
        for (const l of loops())
          if (this instanceof Gauge) this.set({ loop: l.name }, value(l));
          else this.inc({ loop: l.name }, value(l));
      };
      if (type === "gauge") new Gauge({ name, help, labelNames: ["loop"], registers, collect });
      else new Counter({ name, help, labelNames: ["loop"], registers, collect });
    };
    perLoop("cacheon_controller_loop_passes_total", "Passes of each loop.", (l) => l.passes, "counter");
    perLoop(
      "cacheon_controller_loop_failures_total",
      "Passes of each loop that failed.",
      (l) => l.failures,
      "counter",
    );
    perLoop(
      "cacheon_controller_loop_last_success_timestamp_seconds",
      "When each loop last succeeded (0 = never).",
      (l) => l.lastSuccessMs / 1000,
      "gauge",
    );
    perLoop(
      "cacheon_controller_loop_stuck_seconds",
      "How long each loop has neither succeeded nor progressed.",
      (l) => l.stuckForMs / 1000,
      "gauge",
    );
    perLoop(
      "cacheon_controller_loop_stuck",
      "1 while a loop is stuck beyond its limit.",
      (l) => (l.stuck ? 1 : 0),
      "gauge",
    );
  }

  let pods: (() => readonly { state: PodState }[]) | undefined;
  new Gauge({
    name: "cacheon_controller_pods",
    help: "Pods of the fleet by state (no samples without a fleet).",
    labelNames: ["state"],
    registers,
    collect() {
      this.reset();
      if (!pods) return;
      const list = pods();
      for (const state of podStates) this.set({ state }, list.filter((p) => p.state === state).length);
    },
  });

  const roundDuration = new Histogram({
    name: "cacheon_controller_round_duration_seconds",
    help: "Seconds from a round's creation to its settlement.",
    labelNames: ["state"],
    buckets: [
      10,
      minute,
      5 * minute,
      15 * minute,
      30 * minute,
      hour,
      2 * hour,
      4 * hour,
      6 * hour,
      12 * hour,
    ],
    registers,
  });
  const jobDuration = new Histogram({
    name: "cacheon_controller_job_duration_seconds",
    help: "Seconds of each job attempt from its start on a pod to its end, by round phase and end state.",
    labelNames: ["phase", "state"],
    buckets: [5, 30, minute, 5 * minute, 10 * minute, 20 * minute, 30 * minute, hour, 2 * hour],
    registers,
  });
  const agentPhaseDuration = new Histogram({
    name: "cacheon_controller_agent_phase_duration_seconds",
    help: "Seconds of each phase of a job on an agent (pull, start, warmup, measure, ...), by the agent's clock.",
    labelNames: ["phase"],
    buckets: [1, 5, 15, 30, minute, 2 * minute, 5 * minute, 10 * minute, 20 * minute, 30 * minute, hour],
    registers,
  });
  const agentEvents = new Counter({
    name: "cacheon_controller_agent_events_total",
    help: "Events stored from each agent, by kind.",
    labelNames: ["agent", "kind"],
    registers,
  });
  const phases = new AgentPhaseClock();

  return {
    registry,
    roundDuration,
    jobDuration,
    agentPhaseDuration,
    agentEvents,
    observeRoundStep(step) {
      if (step.kind === "round-settled") {
        const round = store.rounds.get(step.roundId);
        if (round?.settledAt)
          roundDuration.observe({ state: round.state }, (round.settledAt - round.createdAt) / 1000);
      } else if (step.kind === "job-finished" && step.jobId) {
        const job = store.jobs.get(step.jobId);
        if (job?.startedAt && job.finishedAt)
          jobDuration.observe(
            { phase: job.phase, state: job.state },
            (job.finishedAt - job.startedAt) / 1000,
          );
      }
    },
    observeAgentEvent(agentId, event) {
      agentEvents.inc({ agent: agentId, kind: event.payload.case ?? "unknown" });
      for (const ended of phases.observe(agentId, event))
        agentPhaseDuration.observe({ phase: ended.phase }, ended.seconds);
    },
    watchPods(list) {
      pods = list;
    },
    text: () => registry.metrics(),
    contentType: registry.contentType,
  };
}

function readStore(store: ControllerStore) {
  // Counted in SQL: these tables only grow, and a scrape must stay cheap after years of rounds.
  const byState = (table: string) => {
    const out: Record<string, number> = {};
    const rows = store.db.prepare(`SELECT state, COUNT(*) AS n FROM ${table} GROUP BY state`).all() as {
      state: string;
      n: number;
    }[];
    for (const r of rows) out[r.state] = Number(r.n);
    return out;
  };
  const open = store.rounds.open();
  const openJobs: Record<string, number> = {};
  if (open) for (const j of store.jobs.list(open.id)) openJobs[j.state] = (openJobs[j.state] ?? 0) + 1;
  const confirmed = store.weightSettings.list({ states: ["confirmed"], limit: 1 })[0];
  return {
    submissions: byState("submissions"),
    rounds: store.rounds.list(1)[0]?.number ?? 0,
    openJobs: open ? openJobs : undefined,
    standing: store.standings.current<Standing>(),
    weightsByState: byState("weight_settings"),
    confirmed: confirmed ? { block: confirmed.confirmedBlock ?? 0, atMs: confirmed.updatedAt } : undefined,
  };
}
