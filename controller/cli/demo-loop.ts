import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Keyring } from "@polkadot/keyring";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import Docker from "dockerode";
import { removeJobObjects } from "../../agent/containers/job-network.ts";
import type { JobEventPayload, JobExecutor } from "../../agent/job/job-executor.ts";
import { createPodJobExecutor } from "../../agent/job/run-pod-job.ts";
import { type Devnet, startDevnet } from "../../devnet/devnet.ts";
import { commitCommand } from "../../miner/cli/commit-command.ts";
import { ExitCode } from "../../shared/cli/cli-command.ts";
import { loadConfig } from "../../shared/config/load-config.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { ArmRole } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { ArmOutcome } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import { newPromptSecret } from "../../shared/workload/prompt-key.ts";
import { ChainClient } from "../chain/chain-client.ts";
import { controllerConfigSchema, controllerEnvPrefix } from "../config/controller-config.ts";
import type { CycleReport } from "../rounds/controller-cycle.ts";
import { createLocalJobRunner } from "../rounds/job-runner.ts";
import type { Standing } from "../scoring/settle-standing.ts";
import { openStore } from "../store/controller-store.ts";
import { type LeaderboardRow, leaderboard } from "../web/leaderboard.ts";
import { resolveControllerSettings } from "./controller-settings.ts";
import { type DemoImages, prepareDemoImages } from "./demo-images.ts";
import { type DemoMiner, demoMiners, demoNetuid, demoSeed, writeDemoWallets } from "./demo-miners.ts";
import { type RunningController, startController } from "./start-controller.ts";

const marker = ".cacheon-demo";
const mib = 1024 * 1024;

/** Phases of the demo, in order. */
export type DemoPhase = "images" | "chain" | "controller" | "commits" | "rounds" | "summary";

/** What the demo reports while it runs (for the terminal and logs). */
export type DemoEvent =
  | { kind: "phase"; phase: DemoPhase; message: string }
  | { kind: "image"; done: number; total: number; name: string }
  | { kind: "committed"; miner: DemoMiner; uid: number; block: number; reference: string }
  | { kind: "job"; podId: string; jobId: string; arms: number }
  | {
      kind: "arm";
      podId: string;
      jobId: string;
      armId: string;
      who: string;
      phase: string;
      message: string;
    }
  | {
      kind: "arm-finished";
      podId: string;
      jobId: string;
      who: string;
      outcome: string;
      wallS: number;
      reason: string;
    }
  | { kind: "cycle"; cycle: number; report: CycleReport };

/** Options of {@link startDemoLoop}. */
export interface DemoLoopOptions {
  /** Repository root (the sim images are built from its sources). */
  root: string;
  /** Folder of the run's state (store, wallets, published results); emptied at start. @default ROOT/.cacheon/demo */
  dir?: string;
  /** Seconds between devnet blocks. @default 1 */
  blockTimeSeconds?: number;
  /** Port of the devnet; 0 picks a free one. @default 0 */
  chainPort?: number;
  /** host:port of the operators' page; port 0 picks a free one. @default "127.0.0.1:8090" */
  webListen?: string;
  /** Docker engine socket. @default $CACHEON_TEST_DOCKER_SOCKET or /var/run/docker.sock */
  dockerSocket?: string;
  /** Registry the images are pushed to and pulled from. @default $CACHEON_TEST_REGISTRY or 127.0.0.1:5000 */
  registry?: string;
  /** Controller cycles before giving up on a paid leader. @default 6 */
  maxCycles?: number;
  /** Aborting stops the rounds, removes the containers and closes chain and servers. */
  signal: AbortSignal;
  onEvent?: (event: DemoEvent) => void;
  /** @default silentLogger */
  logger?: Logger;
}

/** One miner's line of the final leaderboard. */
export interface DemoStanding extends LeaderboardRow {
  miner: string;
  role: string;
}

/** What the loop decided, read back from the store and the chain. */
export interface DemoSummary {
  /** A leader was crowned, reproduced and paid on chain. */
  paid: boolean;
  leader: DemoStanding | undefined;
  runnerUp: DemoStanding | undefined;
  /** Every miner, ranked (leader first). */
  standings: DemoStanding[];
  /** Miners that failed a gate or copied, with the reason. */
  disqualified: { miner: string; uid: number | null; verdict: string; reason: string }[];
  /** Weights of the validator (uid 0) as the chain holds them: [uid, weight of 65535]. */
  chainWeights: [number, number][];
  rounds: {
    id: string;
    state: string;
    jobs: { id: string; phase: string; pod: string | null; state: string }[];
  }[];
  cycles: number;
  /** Seconds spent in each phase. */
  seconds: Partial<Record<DemoPhase, number>>;
  chainUrl: string;
  webUrl: string | undefined;
  /** The published leaderboard page (file:// URL), once a round was published. */
  publishedPage: string | undefined;
  dir: string;
}

/** A running demo: chain, controller and page are up until {@link DemoLoop.close}. */
export interface DemoLoop {
  chainUrl: string;
  webUrl: string | undefined;
  dir: string;
  /** Prefix of every job id the local agents run (container label cacheon.job), unique to this run. */
  runTag: string;
  /** Commits the miners, then runs controller cycles until a leader is paid on chain (or maxCycles). */
  run(): Promise<DemoSummary>;
  /** Stops everything this demo started; safe to call twice. */
  close(): Promise<void>;
}

/**
 * The whole loop on one machine: builds the reference server images into the local registry,
 * starts the local chain (devnet seeded with {@link demoSeed}: subnet 1, //Alice validator, the
 * {@link demoMiners}, wallets written to DIR/wallets), the controller with its store under DIR, two local agents on the
 * Docker engine (hardware profile "none") and the operators' page. {@link DemoLoop.run} makes the
 * miners commit through `cacheon-miner commit` and runs controller cycles until weights paying a
 * leader are confirmed on chain. The demo command and the end-to-end test both call this.
 */
export async function startDemoLoop(options: DemoLoopOptions): Promise<DemoLoop> {
  const { signal } = options;
  const logger = options.logger ?? silentLogger;
  const emit = (e: DemoEvent) => options.onEvent?.(e);
  const dir = options.dir ?? join(options.root, ".cacheon", "demo");
  const registry = options.registry ?? process.env.CACHEON_TEST_REGISTRY ?? "127.0.0.1:5000";
  const docker = new Docker({
    socketPath: options.dockerSocket ?? process.env.CACHEON_TEST_DOCKER_SOCKET ?? "/var/run/docker.sock",
  });
  const seconds: DemoSummary["seconds"] = {};
  const timed = async <T>(phase: DemoPhase, message: string, work: () => Promise<T>): Promise<T> => {
    emit({ kind: "phase", phase, message });
    const started = performance.now();
    try {
      return await work();
    } finally {
      seconds[phase] = (seconds[phase] ?? 0) + (performance.now() - started) / 1000;
    }
  };
  freshFolder(dir);
  let devnet: Devnet | undefined;
  let controller: RunningController | undefined;
  const jobIds = new Set<string>();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await controller?.close().catch((error) => logger.warn("controller close failed", { error }));
    // The pod job removes its containers itself, also when cancelled; this catches a job cut off
    // between its start and its first step. Only this demo's jobs are touched.
    for (const jobId of jobIds)
      await removeJobObjects({ docker, jobId, logger }).catch((error) =>
        logger.warn("could not remove a job's containers", { jobId, error }),
      );
    await devnet?.close();
  };
  try {
    const images = await timed("images", "building the reference server images into the registry", () =>
      prepareDemoImages({
        docker,
        registry,
        root: options.root,
        onProgress: (done, total, name) => emit({ kind: "image", done, total, name }),
        logger,
        signal,
      }),
    );
    devnet = await timed("chain", "starting the local chain", async () => {
      const chain = await startDevnet({
        port: options.chainPort ?? 0,
        blockTimeSeconds: options.blockTimeSeconds ?? 1,
        seed: demoSeed(),
        logger: logger.child({ component: "devnet" }),
      });
      await writeDemoWallets(join(dir, "wallets"));
      return chain;
    });
    const chainUrl = devnet.url;
    const agent = createPodJobExecutor({
      docker,
      logger: logger.child({ component: "agent" }),
      hostGuard: "best-effort",
      limits: { memoryBytes: 512 * mib, cpus: 1, pidsLimit: 256, shmBytes: 64 * mib, nofile: 4096 },
      stopGraceS: 2,
      readyIntervalMs: 100,
    });
    const runTag = `demo${randomBytes(3).toString("hex")}`;
    const pod = (podId: string) => progressExecutor({ podId, inner: agent, images, emit, jobIds, runTag });
    controller = await timed("controller", "starting the controller, its store and two local agents", () =>
      startController({
        settings: demoSettings({ dir, chainUrl, images, webListen: options.webListen ?? "127.0.0.1:8090" }),
        logger: logger.child({ component: "controller" }),
        signal,
        runner: createLocalJobRunner({ pods: { "local-a": pod("local-a"), "local-b": pod("local-b") } }),
      }),
    );
    const running = controller;
    const chain = devnet;
    return {
      chainUrl,
      webUrl: running.webUrl,
      dir,
      runTag,
      async run() {
        await timed("commits", "miners commit their images (cacheon-miner commit)", async () => {
          for (const miner of demoMiners) emit(await commitAs(miner, images, dir, chainUrl, signal));
        });
        const cycles = await timed("rounds", "the controller runs rounds, reproduces and sets weights", () =>
          runCycles(running, chain, dir, options.maxCycles ?? 6, signal, emit),
        );
        return timed("summary", "reading the results back from the store and the chain", () =>
          summarize({ dir, chainUrl, webUrl: running.webUrl, cycles, seconds }),
        );
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Empties the demo folder, refusing one that holds anything but a previous demo run. */
function freshFolder(dir: string): void {
  if (existsSync(dir) && readdirSync(dir).length > 0 && !existsSync(join(dir, marker)))
    throw new CacheonError(
      "failed-precondition",
      `${dir} is not empty and holds no earlier demo run; the demo empties its folder at start: pass another --dir`,
    );
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, marker), "state of `scripts/demo`; emptied at every start\n");
}

/** The controller's configuration for the demo: small workloads, two local pods, fast weights. */
function demoSettings(o: { dir: string; chainUrl: string; images: DemoImages; webListen: string }) {
  mkdirSync(join(o.dir, "model"), { recursive: true });
  const env: Record<string, string> = {
    CACHEON_CONTROLLER_STORE_PATH: join(o.dir, "controller.db"),
    CACHEON_CONTROLLER_CHAIN_ENDPOINTS: o.chainUrl,
    CACHEON_CONTROLLER_CHAIN_NETUID: String(demoNetuid),
    CACHEON_CONTROLLER_WALLET_NAME: "validator",
    CACHEON_CONTROLLER_WALLET_HOTKEY: "default",
    CACHEON_CONTROLLER_WALLET_PATH: join(o.dir, "wallets"),
    CACHEON_CONTROLLER_ROUNDS_BASELINE_IMAGE: o.images.ref("baseline"),
    CACHEON_CONTROLLER_ROUNDS_HARDWARE_PROFILE: "none",
    CACHEON_CONTROLLER_ROUNDS_MODEL_DIR: join(o.dir, "model"),
    // The sim-llm baseline serves on its own: no vLLM recipe (baseline.launch recipe is for vllm/vllm-openai).
    CACHEON_CONTROLLER_BASELINE_LAUNCH: "image",
    // The reference server loads Qwen's real tokenizer and warms up before it listens (a few
    // seconds, more on a busy machine).
    CACHEON_CONTROLLER_ROUNDS_BASELINE_STARTUP_SECONDS: "60",
    CACHEON_CONTROLLER_ROUNDS_CHALLENGER_STARTUP_SECONDS: "30",
    CACHEON_CONTROLLER_ROUNDS_VALIDATOR_SECRET: newPromptSecret(),
    // Generated prompts as in production, small so the demo stays quick.
    CACHEON_CONTROLLER_WORKLOAD_PROMPT_TOKENS: "256",
    CACHEON_CONTROLLER_WORKLOAD_CANARY_REQUESTS: "1",
    CACHEON_CONTROLLER_WORKLOAD_PROBE_PROMPTS: "1",
    CACHEON_CONTROLLER_WORKLOAD_REQUESTS: "3",
    CACHEON_CONTROLLER_WORKLOAD_WARMUP_REQUESTS: "1",
    CACHEON_CONTROLLER_WORKLOAD_MAX_TOKENS: "24",
    CACHEON_CONTROLLER_WORKLOAD_REPETITIONS: "3",
    CACHEON_CONTROLLER_WORKLOAD_CONCURRENCY: "1",
    CACHEON_CONTROLLER_WORKLOAD_REQUEST_TIMEOUT_MS: "20000",
    CACHEON_CONTROLLER_WEIGHTS_RATE_LIMIT_BLOCKS: "5",
    CACHEON_CONTROLLER_PUBLISH_FOLDER: join(o.dir, "published"),
    CACHEON_CONTROLLER_WEB_LISTEN: o.webListen,
    CACHEON_CONTROLLER_AGENTS_LOCAL_PODS: "local-a,local-b",
  };
  return resolveControllerSettings(
    loadConfig({ schema: controllerConfigSchema, env, envPrefix: controllerEnvPrefix }).values,
    { forServe: true },
  );
}

/** A miner commits its image through the miners' own command, with its wallet file. */
async function commitAs(
  miner: DemoMiner,
  images: DemoImages,
  dir: string,
  chainUrl: string,
  signal: AbortSignal,
): Promise<DemoEvent> {
  const reference = miner.image === "copy-of-leader" ? images.copyOfLeader : images.ref(miner.image);
  const out = capture();
  const err = capture();
  const code = await commitCommand.run(
    {
      image: reference,
      wallet: miner.name,
      hotkey: "default",
      netuid: String(demoNetuid),
      network: chainUrl,
      "wallet-path": join(dir, "wallets"),
      timeout: "60",
      json: true,
    },
    [],
    {
      stdout: out.stream,
      stderr: err.stream,
      env: {},
      signal,
    },
  );
  if (code !== ExitCode.ok)
    throw new CacheonError(
      "unavailable",
      `cacheon-miner commit for ${miner.uri} (${miner.role}) exited ${code}: ${err.text().trim() || out.text().trim()}`,
    );
  const result = JSON.parse(out.text()) as { uid: number; blockNumber: number; reference: string };
  return {
    kind: "committed",
    miner,
    uid: result.uid,
    block: result.blockNumber,
    reference: result.reference,
  };
}

/** A writable that keeps what is written, for a command's captured output. */
function capture() {
  const chunks: string[] = [];
  const stream = { write: (chunk: string) => chunks.push(chunk) > 0 } as unknown as NodeJS.WritableStream;
  return { stream, text: () => chunks.join("") };
}

/** Wraps the local agent's executor to report jobs and arms as they run, named after their miner. */
function progressExecutor(o: {
  podId: string;
  inner: JobExecutor;
  images: DemoImages;
  emit: (e: DemoEvent) => void;
  jobIds: Set<string>;
  /** Prefix of the job ids the agent sees, unique to this run. */
  runTag: string;
}): JobExecutor {
  const { podId, inner, images, emit, jobIds, runTag } = o;
  const digestToMiner = new Map<string, string>();
  for (const m of demoMiners) {
    const ref = m.image === "copy-of-leader" ? images.copyOfLeader : images.ref(m.image);
    digestToMiner.set(ref.slice(ref.lastIndexOf("@") + 1), `${m.name} (${m.role})`);
  }
  return async (roundJob, context) => {
    // Job ids are already unique (the store's id prefixes them); the run's tag in front names
    // this run's Docker objects, so the operator (and the e2e test) can find what one run left.
    const job = { ...roundJob, jobId: `${runTag}-${roundJob.jobId}` };
    jobIds.add(job.jobId);
    const who = new Map(
      job.arms.map((a) => [
        a.armId,
        a.role === ArmRole.OPENING_BASELINE || a.role === ArmRole.CLOSING_BASELINE
          ? "baseline"
          : (digestToMiner.get(a.image?.digest ?? "") ?? a.armId),
      ]),
    );
    emit({ kind: "job", podId, jobId: roundJob.jobId, arms: job.arms.length });
    const forward = (payload: JobEventPayload) => {
      if (payload.case === "progress") {
        const p = payload.value;
        emit({
          kind: "arm",
          podId,
          jobId: p.jobId,
          armId: p.armId,
          who: who.get(p.armId) ?? p.armId,
          phase: p.phase,
          message: p.message,
        });
      } else if (payload.case === "armFinished") {
        const r = payload.value.result;
        emit({
          kind: "arm-finished",
          podId,
          jobId: payload.value.jobId,
          who: who.get(r?.armId ?? "") ?? r?.armId ?? "?",
          outcome: outcomeName(r?.outcome ?? 0),
          wallS: r?.summary?.wallS ?? 0,
          reason: r?.reason ?? "",
        });
      }
    };
    const result = await inner(job, {
      signal: context.signal,
      emit(payload) {
        context.emit(payload);
        forward(payload);
      },
    });
    return { ...result, jobId: roundJob.jobId };
  };
}

function outcomeName(outcome: number): string {
  const entry = Object.entries(ArmOutcome).find(([, v]) => v === outcome);
  return (entry?.[0] ?? String(outcome)).toLowerCase().replaceAll("_", " ");
}

/** Controller cycles until the chain holds weights paying the crowned leader. */
async function runCycles(
  controller: RunningController,
  devnet: Devnet,
  dir: string,
  maxCycles: number,
  signal: AbortSignal,
  emit: (e: DemoEvent) => void,
): Promise<number> {
  for (let cycle = 1; cycle <= maxCycles; cycle += 1) {
    const report = await controller.cycle();
    emit({ kind: "cycle", cycle, report });
    if (leaderPaid(dir)) return cycle;
    if (signal.aborted) throw new CacheonError("cancelled", "the demo was interrupted");
    // Nothing left to decide this cycle (weights rate-limited or in flight): let blocks pass.
    await devnet.waitForFinalized(devnet.chain.finalizedNumber + 6, signal);
  }
  return maxCycles;
}

function leaderPaid(dir: string): boolean {
  const store = openStore({ path: join(dir, "controller.db"), readOnly: true });
  try {
    const leader = store.standings.current<Standing>().leader;
    if (!leader) return false;
    const uid = store.submissions.list().find((s) => s.id === leader.submissionId)?.uid;
    const last = store.weightSettings.list({ states: ["confirmed"], limit: 1 })[0];
    return uid !== undefined && uid !== null && (last?.uids.includes(uid) ?? false);
  } finally {
    store.close();
  }
}

/** Reads the outcome back: the leaderboard from the store, the weights from the chain. */
async function summarize(o: {
  dir: string;
  chainUrl: string;
  webUrl: string | undefined;
  cycles: number;
  seconds: DemoSummary["seconds"];
}): Promise<DemoSummary> {
  await cryptoWaitReady();
  const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
  const byAddress = new Map(demoMiners.map((m) => [keyring.addFromUri(m.uri).address, m]));
  const store = openStore({ path: join(o.dir, "controller.db"), readOnly: true });
  let standings: DemoStanding[];
  let rounds: DemoSummary["rounds"];
  try {
    standings = leaderboard(store).map((row) => ({
      ...row,
      miner: byAddress.get(row.hotkey)?.name ?? row.hotkey,
      role: byAddress.get(row.hotkey)?.role ?? "",
    }));
    rounds = store.rounds.list(20).map((r) => ({
      id: r.id,
      state: r.state,
      jobs: store.jobs.list(r.id).map((j) => ({ id: j.id, phase: j.phase, pod: j.podId, state: j.state })),
    }));
  } finally {
    store.close();
  }
  const client = await ChainClient.connect({ endpoints: [o.chainUrl], rounds: 1 });
  let chainWeights: [number, number][];
  try {
    const weights = await client.api.query.subtensorModule?.weights?.(demoNetuid, 0);
    chainWeights = (weights?.toJSON() ?? []) as [number, number][];
  } finally {
    await client.close();
  }
  const leader = standings.find((s) => s.rank === 1);
  const runnerUp = standings.find((s) => s.rank === 2);
  return {
    paid: leader !== undefined && chainWeights.some(([uid, w]) => uid === leader.uid && w > 0),
    leader,
    runnerUp,
    standings,
    disqualified: standings
      .filter((s) => s.state === "failed" || s.state === "copy" || /failed|copy/.test(s.verdict))
      .map((s) => ({ miner: s.miner, uid: s.uid, verdict: s.verdict, reason: s.reason })),
    chainWeights,
    rounds,
    cycles: o.cycles,
    seconds: o.seconds,
    chainUrl: o.chainUrl,
    webUrl: o.webUrl,
    publishedPage: existsSync(join(o.dir, "published", "index.html"))
      ? pathToFileURL(join(o.dir, "published", "index.html")).href
      : undefined,
    dir: o.dir,
  };
}
