import { type ChildProcess, execFile, spawn } from "node:child_process";
import { resolveExecutable } from "./software-fingerprint.ts";

/** One GPU in one sample of the utilisation loop. -1 means nvidia-smi did not report the value. */
export interface GpuUtilSample {
  /** When the agent read the line, ms since the epoch. */
  atMs: number;
  index: number;
  uuid: string;
  /** Percent of the last sample period in which a kernel ran (nvidia-smi's utilization.gpu). */
  utilizationPercent: number;
  memoryUsedMib: number;
  /** Board power draw, W; -1 where the driver does not report power.draw. */
  powerW: number;
}

/** One process holding memory on a GPU, in one sample of the process loop. */
export interface GpuProcessSample {
  atMs: number;
  gpuUuid: string;
  /** PID as the host sees it (a container's process has its host PID here). */
  pid: number;
  name: string;
  usedMemoryMib: number;
}

/** Per-GPU figures of a window, from {@link summariseGpuActivity}. */
export interface GpuActivitySummary {
  index: number;
  uuid: string;
  /** Samples of this GPU in the window. */
  samples: number;
  /** Mean and highest utilisation over the samples that reported one; -1 when none did. */
  meanUtilizationPercent: number;
  maxUtilizationPercent: number;
  /** Share of the reported samples with utilisation above 0: how much of the window a kernel ran. */
  activeFraction: number;
  /** Highest memory in use, MiB; -1 when never reported. */
  maxMemoryUsedMib: number;
  /** Mean board power draw, W; -1 when never reported. */
  meanPowerW: number;
  /** Processes seen holding memory on this GPU during the window, ascending. */
  pids: number[];
}

/** What the sampler saw between start and stop. Plain data. */
export interface GpuActivity {
  startedAtMs: number;
  stoppedAtMs: number;
  intervalMs: number;
  samples: GpuUtilSample[];
  processes: GpuProcessSample[];
  gpus: GpuActivitySummary[];
  /** What went wrong (nvidia-smi missing, a loop that died, unparseable lines); empty when none. */
  problems: string[];
}

/** Options of {@link startGpuSampler}. */
export interface GpuSamplerOptions {
  /** nvidia-smi to run: a name on PATH or a path. @default "nvidia-smi" */
  nvidiaSmiPath?: string;
  /** Environment of nvidia-smi (loader overrides are removed). @default process.env */
  env?: Record<string, string | undefined>;
  /** Time between samples, ms (nvidia-smi's -lms); processes are sampled at least 1 s apart. @default 500 */
  intervalMs?: number;
  /** Stops the sampler as `stop()` would; the result is still returned by `stop()`. */
  signal?: AbortSignal;
  /** Clock. @default Date.now */
  now?: () => number;
}

/** A running sampler. */
export interface GpuSampler {
  /** Ends the loops and returns everything sampled since the start. Never rejects. */
  stop(): Promise<GpuActivity>;
}

/** Fields of the utilisation loop; power.draw is dropped where the driver does not support it. */
export const samplerGpuFields = ["index", "uuid", "utilization.gpu", "memory.used", "power.draw"] as const;
/** Fields of the process loop. */
export const samplerProcessFields = ["gpu_uuid", "pid", "process_name", "used_memory"] as const;

const scrubbed = ["LD_PRELOAD", "LD_AUDIT", "LD_PROFILE"];

/** A number of a `csv,noheader,nounits` cell; -1 for `[N/A]`, `[Not Supported]` and the like. Pure. */
export function csvNumber(cell: string | undefined): number {
  const text = (cell ?? "").trim();
  return /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : -1;
}

/** One line of the utilisation loop, or undefined when it is not one. Pure. */
export function parseGpuLine(line: string, atMs: number, withPower: boolean): GpuUtilSample | undefined {
  const cells = line.split(",").map((c) => c.trim());
  if (cells.length !== (withPower ? 5 : 4) || !/^\d+$/.test(cells[0] ?? "")) return undefined;
  return {
    atMs,
    index: Number(cells[0]),
    uuid: cells[1] ?? "",
    utilizationPercent: csvNumber(cells[2]),
    memoryUsedMib: csvNumber(cells[3]),
    powerW: withPower ? csvNumber(cells[4]) : -1,
  };
}

/** One line of the process loop (a process name may hold commas), or undefined. Pure. */
export function parseProcessLine(line: string, atMs: number): GpuProcessSample | undefined {
  const cells = line.split(",").map((c) => c.trim());
  if (cells.length < 4 || !/^\d+$/.test(cells[1] ?? "")) return undefined;
  return {
    atMs,
    gpuUuid: cells[0] ?? "",
    pid: Number(cells[1]),
    name: cells.slice(2, -1).join(","),
    usedMemoryMib: csvNumber(cells.at(-1)),
  };
}

/** Per-GPU figures of the samples, by GPU index. Pure. */
export function summariseGpuActivity(
  samples: GpuUtilSample[],
  processes: GpuProcessSample[],
): GpuActivitySummary[] {
  const byGpu = new Map<number, GpuUtilSample[]>();
  for (const s of samples) byGpu.set(s.index, [...(byGpu.get(s.index) ?? []), s]);
  return [...byGpu.entries()]
    .sort(([a], [b]) => a - b)
    .map(([index, list]) => {
      const uuid = list.find((s) => s.uuid !== "")?.uuid ?? "";
      const util = list.map((s) => s.utilizationPercent).filter((u) => u >= 0);
      const memory = list.map((s) => s.memoryUsedMib).filter((m) => m >= 0);
      const power = list.map((s) => s.powerW).filter((p) => p >= 0);
      const mean = (values: number[]) =>
        values.length === 0 ? -1 : Math.round((values.reduce((a, b) => a + b, 0) / values.length) * 10) / 10;
      return {
        index,
        uuid,
        samples: list.length,
        meanUtilizationPercent: mean(util),
        maxUtilizationPercent: util.length === 0 ? -1 : Math.max(...util),
        activeFraction:
          util.length === 0 ? 0 : Math.round((util.filter((u) => u > 0).length / util.length) * 1000) / 1000,
        maxMemoryUsedMib: memory.length === 0 ? -1 : Math.max(...memory),
        meanPowerW: mean(power),
        pids: [...new Set(processes.filter((p) => p.gpuUuid === uuid).map((p) => p.pid))].sort(
          (a, b) => a - b,
        ),
      };
    });
}

/**
 * Samples per-GPU utilisation, memory and power, and the processes holding GPU memory, until
 * `stop()`. Two long-lived `nvidia-smi ... -lms` loops do the sampling in their own processes
 * (NVML stays open between samples, so each costs little), and the agent only parses the lines
 * they write: nothing runs on the event loop that times requests but a pipe read. Never rejects:
 * what goes wrong is in the result's `problems`, and no samples at all is for the caller to judge.
 */
export async function startGpuSampler(options: GpuSamplerOptions = {}): Promise<GpuSampler> {
  const now = options.now ?? Date.now;
  const intervalMs = Math.max(100, Math.round(options.intervalMs ?? 500));
  const env: Record<string, string | undefined> = { ...(options.env ?? process.env) };
  for (const name of scrubbed) delete env[name];
  const startedAtMs = now();
  const samples: GpuUtilSample[] = [];
  const processes: GpuProcessSample[] = [];
  const problems: string[] = [];
  let badLines = 0;
  const smi = await resolveExecutable(options.nvidiaSmiPath ?? "nvidia-smi", env);
  if (!smi) {
    problems.push(`nvidia-smi not found ("${options.nvidiaSmiPath ?? "nvidia-smi"}"): nothing was sampled`);
    return { stop: async () => result() };
  }
  // One query first: it proves the field list works here (one unsupported field fails the whole
  // query) and gives the window's first sample.
  let fields: readonly string[] = samplerGpuFields;
  let first = await queryOnce(smi, `--query-gpu=${fields.join(",")}`, env);
  if (first.error) {
    fields = samplerGpuFields.filter((f) => f !== "power.draw");
    const retry = await queryOnce(smi, `--query-gpu=${fields.join(",")}`, env);
    if (!retry.error) problems.push(`power.draw is not supported here (${first.error}); sampling without it`);
    first = retry;
  }
  const withPower = fields.includes("power.draw");
  const noteBadLine = (loop: string, line: string) => {
    badLines += 1;
    if (badLines <= 3) problems.push(`the ${loop} loop printed "${line.trim().slice(0, 120)}"`);
  };
  const onGpuLine = (line: string) => {
    const sample = parseGpuLine(line, now(), withPower);
    if (sample) samples.push(sample);
    else if (line.trim() !== "") noteBadLine("utilisation", line);
  };
  if (first.error) {
    problems.push(`nvidia-smi --query-gpu failed: ${first.error}`);
    return { stop: async () => result() };
  }
  for (const line of first.stdout.split("\n")) onGpuLine(line);
  const appsQuery = `--query-compute-apps=${samplerProcessFields.join(",")}`;
  let processLines = 0;
  const onProcessLine = (line: string) => {
    processLines += 1;
    const sample = parseProcessLine(line, now());
    if (sample) processes.push(sample);
    else if (line.trim() !== "" && !/no running processes/i.test(line)) noteBadLine("process", line);
  };
  // A window shorter than the process loop's start (a slow spawn on a loaded host) would show no
  // process on any GPU and flag the arm for it: the loop printed nothing, so ask once more.
  const processesOnceIfNone = async () => {
    if (processLines > 0) return;
    const once = await queryOnce(smi, appsQuery, env);
    if (once.error) problems.push(`nvidia-smi --query-compute-apps failed: ${once.error}`);
    else for (const line of once.stdout.split("\n")) onProcessLine(line);
  };

  const loops = [
    startLoop(
      smi,
      [`--query-gpu=${fields.join(",")}`, "--format=csv,noheader,nounits", "-lms", String(intervalMs)],
      env,
      "utilisation",
      onGpuLine,
      problems,
    ),
    startLoop(
      smi,
      [appsQuery, "--format=csv,noheader,nounits", "-lms", String(Math.max(1000, intervalMs))],
      env,
      "process",
      onProcessLine,
      problems,
    ),
  ];
  let stopped: Promise<GpuActivity> | undefined;
  const stop = () => {
    stopped ??= Promise.all(loops.map((l) => l.stop()))
      .then(processesOnceIfNone)
      .then(result);
    return stopped;
  };
  options.signal?.addEventListener("abort", () => void stop(), { once: true });
  return { stop };

  function result(): GpuActivity {
    if (badLines > 3) problems.push(`${badLines - 3} more unparseable line(s)`);
    return {
      startedAtMs,
      stoppedAtMs: now(),
      intervalMs,
      samples,
      processes,
      gpus: summariseGpuActivity(samples, processes),
      problems,
    };
  }
}

/** One nvidia-smi query (`--query-gpu=...` or `--query-compute-apps=...`) as CSV. */
function queryOnce(
  smi: string,
  query: string,
  env: Record<string, string | undefined>,
): Promise<{ stdout: string; error?: string }> {
  return new Promise((done) => {
    execFile(
      smi,
      [query, "--format=csv,noheader,nounits"],
      { env: env as NodeJS.ProcessEnv, timeout: 15_000, encoding: "utf8" },
      (error, stdout, stderr) =>
        done(
          error
            ? {
                stdout,
                error: `${`${stderr}`.trim().split("\n")[0] || `${stdout}`.trim().split("\n")[0] || error.message}`,
              }
            : { stdout },
        ),
    );
  });
}

/** A looping nvidia-smi whose stdout lines go to `onLine`; `stop` ends it and flushes the last line. */
function startLoop(
  smi: string,
  args: string[],
  env: Record<string, string | undefined>,
  name: string,
  onLine: (line: string) => void,
  problems: string[],
): { stop(): Promise<void> } {
  let stopping = false;
  let pending = "";
  let stderr = "";
  const child: ChildProcess = spawn(smi, args, {
    env: env as NodeJS.ProcessEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<void>((resolve) => {
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (chunk: string) => {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) onLine(line);
    });
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      if (stderr.length < 2000) stderr += chunk;
    });
    child.on("error", (error) => {
      problems.push(`the ${name} loop could not start: ${error.message}`);
      stopping = true;
      resolve();
    });
    child.on("close", (code, signal) => {
      if (pending.trim() !== "") onLine(pending);
      pending = "";
      if (!stopping) {
        problems.push(
          `the ${name} loop (nvidia-smi ${args.join(" ")}) ended early with ${signal ?? `exit ${code}`}: ${stderr.trim().split("\n")[0] || "no message"}`,
        );
      }
      resolve();
    });
  });
  return {
    stop: async () => {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
