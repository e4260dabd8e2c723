import { writeFileSync } from "node:fs";
import { create, fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import Docker from "dockerode";
import { controllerConfigSchema } from "../../controller/config/controller-config.ts";
import { workloadOf } from "../../controller/config/workload-settings.ts";
import { type CliCommand, ExitCode } from "../../shared/cli/cli-command.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { ArmRole, EvaluationJobSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { type JobResult, JobResultSchema } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { WorkloadSpecSchema } from "../../shared/gen/cacheon/v1/workload_pb.ts";
import { parseImageReference } from "../../shared/image/image-reference.ts";
import { type ArmLaunchSettings, armLaunch, defaultArmLaunch } from "../../shared/launch/arm-launch.ts";
import { createLogger } from "../../shared/log/logger.ts";
import { withJobPrompts } from "../../shared/workload/job-prompts.ts";
import { newPromptSecret, parsePromptSecret } from "../../shared/workload/prompt-key.ts";
import { loadHardwareProfile } from "../hardware/profiles.ts";
import { type MinerVerdict, minerVerdicts } from "../job/miner-verdict.ts";
import { runPodJob } from "../job/run-pod-job.ts";
import { jobSeedFlag, networkModeFlag, nofileFlag } from "./job-flags.ts";
import { jobProgress } from "./job-progress.ts";

/** `cacheon-agent local`: the validator's job, run on the miner's own machine. */
export const localCommand: CliCommand = {
  name: "local",
  summary: "run the validator's evaluation of your image on this machine and say what a validator would see",
  help: `Usage: cacheon-agent local --challenger REF@DIGEST [--baseline REF@DIGEST] [--profile NAME]
                           [--model-dir DIR] [--json FILE] [--html FILE] [options]

Runs the same job a validator runs on its pod: opening baseline, your image, closing baseline,
each pulled by digest and run in an isolated container (internal network, all capabilities
dropped, read-only root, pid/memory/file limits), warm-up then the timed workload, correctness of
your outputs against the baseline's. Prints your speed against the baseline, the correctness
verdict, and everything that would disqualify the image. The workload is the validators'
configuration defaults (the controller's own table); each flag below replaces one setting.
\`cacheon-miner evaluate\` runs the validators' whole job from their configuration, the leader
beside you, and gives the round's verdict with the bar to clear.

Options:
  --challenger REF@DIGEST  your image, pinned by digest (required)
  --baseline REF@DIGEST    the pinned baseline image (or CACHEON_BASELINE_IMAGE)
  --profile NAME|FILE      hardware profile the machine is probed against before anything is
                           pulled ("none" runs without GPUs; h200x8, h100x8 or a YAML/JSON file)
                                                                                  (default none)
  --nvidia-smi PATH        nvidia-smi the probe and the GPU idle gate run     (default: on PATH)
  --bandwidth              also run the GPU-to-GPU copy test in the baseline image, as pods do
  --model-dir DIR          model weights, mounted read-only at /model
  --model NAME             model name sent in requests            (default workload.model)
  --prompts KIND           generated: fresh prompts for this run from a secret of its own, with
                           canaries and probes, as validators send (default); bundled: the
                           public pool of short prompts (a server could cache those)
  --prompt-tokens N        size of each generated prompt in Qwen2.5 tokens (default workload.promptTokens)
  --canaries N             canary requests added to each repetition (default workload.canaryRequests)
  --probes N               probe prompts repeated in every repetition (default workload.probePrompts)
  --requests N             timed requests per repetition          (default workload.requests)
  --warmup N               warm-up requests, not scored     (default workload.warmupRequests)
  --max-tokens N           max_tokens of every request           (default workload.maxTokens)
  --repetitions N          repetitions of the timed workload   (default workload.repetitions)
  --concurrency N          requests in flight (closed loop)    (default workload.concurrency)
  --seed HEX               the job's seed (its generated prompts derive from it)  (default random)
  --startup-timeout S      seconds each container may take to become ready        (default 750)
  --baseline-launch HOW    recipe: start the baseline as validators start the stock vLLM image
                           (--model /model, served name, TP = the profile's GPUs, port 8000, ...);
                           image: run the baseline image's own entrypoint     (default recipe)
  --direct-pulls           pull without the loopback registry gate (Docker cannot reach this
                           process's loopback, e.g. Docker Desktop); sizes are then checked later
  --network MODE           internal | host                                        (default internal)
  --nofile N               open-files limit in the containers                     (default 65536)
  --json FILE              write the full result (and verdicts) as JSON
  --html FILE              write a one-page HTML report
  -h, --help               this text

Exit codes: 0 no disqualification, 1 disqualified, 2 usage error or the job could not run.`,
  options: {
    challenger: { type: "string" },
    baseline: { type: "string" },
    profile: { type: "string" },
    "nvidia-smi": { type: "string" },
    bandwidth: { type: "boolean" },
    "model-dir": { type: "string" },
    model: { type: "string" },
    prompts: { type: "string" },
    "prompt-tokens": { type: "string" },
    canaries: { type: "string" },
    probes: { type: "string" },
    requests: { type: "string" },
    warmup: { type: "string" },
    "max-tokens": { type: "string" },
    repetitions: { type: "string" },
    concurrency: { type: "string" },
    seed: { type: "string" },
    "startup-timeout": { type: "string" },
    "baseline-launch": { type: "string" },
    "direct-pulls": { type: "boolean" },
    network: { type: "string" },
    nofile: { type: "string" },
    json: { type: "string" },
    html: { type: "string" },
  },
  async run(values, _positionals, io) {
    const str = (name: string) => values[name] as string | undefined;
    const int = (name: string, fallback: number, min: number): number => {
      const raw = str(name);
      if (raw === undefined) return fallback;
      const n = Number(raw);
      if (!Number.isInteger(n) || n < min) {
        throw new CacheonError("invalid-argument", `--${name} must be an integer >= ${min}, got "${raw}"`);
      }
      return n;
    };
    const challengerText = str("challenger");
    if (!challengerText) throw new CacheonError("invalid-argument", "--challenger REF@DIGEST is required");
    const baselineText = str("baseline") ?? io.env.CACHEON_BASELINE_IMAGE;
    if (!baselineText) {
      throw new CacheonError(
        "invalid-argument",
        "no baseline: pass --baseline REF@DIGEST (the pinned vLLM image the validators use) or set CACHEON_BASELINE_IMAGE",
      );
    }
    const challenger = parseImageReference(challengerText);
    const baseline = parseImageReference(baselineText);
    const network = networkModeFlag(str("network"));
    const startup = int("startup-timeout", 750, 1);
    const promptKind = str("prompts") ?? "generated";
    if (promptKind !== "generated" && promptKind !== "bundled") {
      throw new CacheonError(
        "invalid-argument",
        `--prompts must be "generated" or "bundled", got "${promptKind}"`,
      );
    }
    const generated = promptKind === "generated";
    const baselineLaunch = str("baseline-launch") ?? "recipe";
    if (baselineLaunch !== "recipe" && baselineLaunch !== "image") {
      throw new CacheonError(
        "invalid-argument",
        `--baseline-launch must be "recipe" or "image", got "${baselineLaunch}"`,
      );
    }
    const profileName = str("profile") ?? "none";
    // As the validators' controller launches arms: the stock vLLM recipe for the baseline (TP =
    // the profile's GPUs), the writable caches for both.
    const launch: ArmLaunchSettings = {
      ...defaultArmLaunch,
      baseline: baselineLaunch,
      gpuCount: loadHardwareProfile(profileName).gpuCount ?? 1,
    };
    // The validators' workload: the controller's configuration defaults (the same table and the
    // same mapping to a WorkloadSpec), each flag given replacing its one setting.
    const flagged: Record<string, unknown> = {
      "workload.promptSource": generated ? "generated" : "bundled:cacheon-chat-v1",
      "workload.model": str("model"),
      "workload.promptTokens": str("prompt-tokens") && int("prompt-tokens", 0, 256),
      "workload.canaryRequests": str("canaries") && int("canaries", 0, 0),
      "workload.probePrompts": str("probes") && int("probes", 0, 0),
      "workload.requests": str("requests") && int("requests", 0, 1),
      "workload.warmupRequests": str("warmup") && int("warmup", 0, 0),
      "workload.maxTokens": str("max-tokens") && int("max-tokens", 0, 1),
      "workload.repetitions": str("repetitions") && int("repetitions", 0, 1),
      "workload.concurrency": str("concurrency") && int("concurrency", 0, 1),
    };
    const setting = <T>(key: string): T =>
      (flagged[key] ?? (controllerConfigSchema as Record<string, { default?: unknown }>)[key]?.default) as T;
    const workload = fromJson(WorkloadSpecSchema, workloadOf(setting) as JsonValue);
    const seed = jobSeedFlag(str("seed"));
    const facts = { model: workload.model, topLogprobs: workload.topLogprobs };
    const draft = create(EvaluationJobSchema, {
      jobId: `local-${Date.now().toString(36)}`,
      roundId: "local",
      roundSeed: seed,
      hardwareProfile: profileName,
      modelDir: str("model-dir") ?? "",
      workload,
      arms: [
        {
          armId: "baseline-open",
          role: ArmRole.OPENING_BASELINE,
          image: baseline,
          startupTimeoutS: Math.max(startup, 1200),
          ...armLaunch(launch, true, facts),
        },
        {
          armId: "challenger",
          role: ArmRole.CHALLENGER,
          image: challenger,
          startupTimeoutS: startup,
          ...armLaunch(launch, false, facts),
        },
        {
          armId: "baseline-close",
          role: ArmRole.CLOSING_BASELINE,
          image: baseline,
          startupTimeoutS: Math.max(startup, 1200),
          ...armLaunch(launch, true, facts),
        },
      ],
    });
    // Generated prompts come from a secret of this run's own, so no server has seen them before.
    const job = generated
      ? await withJobPrompts(draft, parsePromptSecret(newPromptSecret()), io.signal)
      : draft;
    const docker = new Docker({ socketPath: io.env.DOCKER_SOCKET ?? "/var/run/docker.sock" });
    const logger = createLogger({
      stream: io.stderr as never,
      level: io.env.CACHEON_DEBUG ? "debug" : "warn",
    });
    const progress = jobProgress(io.stderr);
    const result = await runPodJob(
      job,
      { signal: io.signal, emit: progress.emit },
      {
        docker,
        logger,
        networkMode: network,
        hostGuard: "best-effort",
        nvidiaSmiPath: str("nvidia-smi"),
        env: io.env,
        bandwidthCheck: Boolean(values.bandwidth),
        limits: { nofile: nofileFlag(str("nofile")) },
        ...(values["direct-pulls"] ? { pullGate: false } : {}),
      },
    );
    progress.finish();
    if (io.signal.aborted) return ExitCode.interrupted;
    const verdicts = result.completed ? minerVerdicts(job, result) : [];
    const jsonFile = str("json");
    if (jsonFile) {
      writeFileSync(
        jsonFile,
        `${JSON.stringify({ result: toJson(JobResultSchema, result), verdicts: verdicts.map(jsonSafe) }, null, 2)}\n`,
      );
    }
    const htmlFile = str("html");
    if (htmlFile) writeFileSync(htmlFile, renderHtml(result.networkMode, verdicts, result.reason));
    if (!result.completed) {
      io.stderr.write(`cacheon-agent local: the job could not run: ${result.reason}\n`);
      return ExitCode.usage;
    }
    io.stdout.write(renderText(verdicts, result.networkMode));
    io.stdout.write(hardwareLine(result));
    return verdicts.every((v) => v.disqualifications.length === 0) ? ExitCode.ok : ExitCode.negative;
  },
};

/** One line on what the probe found, e.g. "hardware: profile none met (0 GPUs, docker 27.5.1)". */
function hardwareLine(result: JobResult): string {
  const hw = result.hardware;
  if (!hw) return "hardware: not probed\n";
  const bandwidth = hw.bandwidth?.pairs.length
    ? `, copy test min ${Math.min(...hw.bandwidth.pairs.map((p) => p.gbPerS)).toFixed(1)} GB/s`
    : "";
  return `hardware: profile ${hw.profile} ${hw.ok ? "met" : "NOT met"} (${hw.gpus.length} GPU${hw.gpus.length === 1 ? "" : "s"}${bandwidth})\n`;
}

function pct(x: number): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : "n/a";
}

function renderText(verdicts: MinerVerdict[], networkMode: string): string {
  const lines: string[] = [];
  for (const v of verdicts) {
    lines.push(`${v.armId}: ${v.outcome}`);
    lines.push(
      `  speed: ${Number.isFinite(v.wallS) ? `${v.wallS.toFixed(3)} s` : "n/a"} vs baseline ${Number.isFinite(v.baselineWallS) ? `${v.baselineWallS.toFixed(3)} s` : "n/a"}: ${Number.isFinite(v.improvement) ? `${v.improvement >= 0 ? "faster" : "slower"} by ${pct(Math.abs(v.improvement))}` : "n/a"} (baseline noise ${pct(v.baselineNoise)})`,
    );
    lines.push(`  correctness: ${v.correct ? "passed" : "FAILED"}`);
    if (v.disqualifications.length === 0) lines.push("  a validator would find nothing that disqualifies it");
    for (const d of v.disqualifications) lines.push(`  disqualified: ${d}`);
  }
  lines.push(`network mode: ${networkMode}`);
  return `${lines.join("\n")}\n`;
}

function jsonSafe(v: MinerVerdict): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, value] of Object.entries(v))
    out[k] = typeof value === "number" && !Number.isFinite(value) ? null : value;
  return out;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function renderHtml(networkMode: string, verdicts: MinerVerdict[], reason: string): string {
  const rows = verdicts
    .map(
      (v) =>
        `<tr><td>${escapeHtml(v.armId)}</td><td>${escapeHtml(v.outcome)}</td><td>${Number.isFinite(v.wallS) ? v.wallS.toFixed(3) : "n/a"}</td><td>${Number.isFinite(v.baselineWallS) ? v.baselineWallS.toFixed(3) : "n/a"}</td><td>${pct(v.improvement)}</td><td>${v.correct ? "passed" : "failed"}</td><td>${v.disqualifications.map(escapeHtml).join("<br>") || "none"}</td></tr>`,
    )
    .join("\n");
  return `<!doctype html><html><head><meta charset="utf-8"><title>cacheon local evaluation</title></head><body>
<h1>cacheon local evaluation</h1>
${reason ? `<p>${escapeHtml(reason)}</p>` : ""}<p>network mode: ${escapeHtml(networkMode)}</p>
<table border="1"><tr><th>arm</th><th>outcome</th><th>wall s</th><th>baseline wall s</th><th>improvement</th><th>correctness</th><th>disqualifications</th></tr>
${rows}
</table></body></html>
`;
}
