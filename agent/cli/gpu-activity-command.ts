import { type CliCommand, ExitCode } from "../../shared/cli/cli-command.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type GpuActivity, startGpuSampler } from "../hardware/gpu-sampler.ts";

/** `cacheon-agent gpu-activity`: what the GPUs did over a window, as the pod job samples each arm. */
export const gpuActivityCommand: CliCommand = {
  name: "gpu-activity",
  summary: "sample per-GPU utilisation, memory, power and processes over a window",
  help: `Usage: cacheon-agent gpu-activity [options]

Samples every GPU with the sampler the pod job runs while each arm is timed: two looping
nvidia-smi queries (utilisation, memory in use, power draw; processes holding GPU memory), in
their own processes. Prints per GPU the mean and highest utilisation, the share of samples with a
kernel running, the most memory in use, the mean power and the PIDs seen.

Options:
  --seconds N        length of the window (default 10)
  --interval-ms N    time between samples (default 500)
  --nvidia-smi PATH  nvidia-smi to run (default: nvidia-smi on PATH)
  --json             print everything sampled: { startedAtMs, stoppedAtMs, intervalMs, samples,
                     processes, gpus, problems }
  -h, --help         this help

Exit codes: 0 sampled; 2 nothing could be sampled (no nvidia-smi, no GPU) or bad flags;
130 interrupted (what was sampled so far is printed).

Examples:
  cacheon-agent gpu-activity --seconds 5
  cacheon-agent gpu-activity --seconds 30 --interval-ms 250 --json
`,
  options: {
    seconds: { type: "string" },
    "interval-ms": { type: "string" },
    "nvidia-smi": { type: "string" },
  },
  async run(values, _positionals, io) {
    const seconds = positiveNumber(values.seconds, "--seconds", 10);
    const intervalMs = positiveNumber(values["interval-ms"], "--interval-ms", 500);
    const sampler = await startGpuSampler({
      nvidiaSmiPath: values["nvidia-smi"] as string | undefined,
      env: io.env,
      intervalMs,
    });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, seconds * 1000);
      io.signal.addEventListener(
        "abort",
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
    const activity = await sampler.stop();
    io.stdout.write(values.json ? `${JSON.stringify(activity, null, 2)}\n` : renderActivity(activity));
    if (io.signal.aborted) return ExitCode.interrupted;
    return activity.samples.length > 0 ? ExitCode.ok : ExitCode.usage;
  },
};

function positiveNumber(value: unknown, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    throw new CacheonError("invalid-argument", `${flag} must be a positive number, got "${String(value)}"`);
  }
  return n;
}

/** The summary for a person: one line per GPU, then the problems. */
export function renderActivity(activity: GpuActivity): string {
  const seconds = ((activity.stoppedAtMs - activity.startedAtMs) / 1000).toFixed(1);
  const lines = [`${activity.samples.length} sample(s) of ${activity.gpus.length} GPU(s) over ${seconds} s`];
  for (const g of activity.gpus) {
    lines.push(
      `  gpu ${g.index}  util mean ${g.meanUtilizationPercent}% max ${g.maxUtilizationPercent}%  active ${(g.activeFraction * 100).toFixed(0)}%  memory max ${g.maxMemoryUsedMib} MiB  power mean ${g.meanPowerW} W  pids ${g.pids.join(",") || "-"}`,
    );
  }
  for (const p of activity.problems) lines.push(`  PROBLEM ${p}`);
  return `${lines.join("\n")}\n`;
}
