import { writeFileSync } from "node:fs";
import { toJson } from "@bufbuild/protobuf";
import { jobSeedFlag, networkModeFlag, nofileFlag } from "../../agent/cli/job-flags.ts";
import { jobProgress } from "../../agent/cli/job-progress.ts";
import { type CliCommand, ExitCode } from "../../shared/cli/cli-command.ts";
import { loadConfig } from "../../shared/config/load-config.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { JobResultSchema } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { formatImageReference, parseImageReference } from "../../shared/image/image-reference.ts";
import { createLogger } from "../../shared/log/logger.ts";
import { newPromptSecret, parsePromptSecret } from "../../shared/workload/prompt-key.ts";
import type { EvaluationAnswer } from "../evaluate/evaluation-answer.ts";

/** `cacheon-miner evaluate`: a validator's evaluation job of your image, on this machine, with the crown verdict. */
export const evaluateCommand: CliCommand = {
  name: "evaluate",
  summary: "run a validator's evaluation of your image here and say whether it would take the lead",
  help: `Usage: cacheon-miner evaluate --image REF@DIGEST [--leader REF@DIGEST] [--seed HEX] [options]

Runs on this machine the job a validator runs on its pod, built by the controller's own code from
the controller's configuration (same schema, same defaults: workload, hardware profile, start-up
allowances, the baseline's launch recipe): opening baseline, the leader when given, your image,
closing baseline, each in an isolated container; then judges it with the controller's own
scoring (correctness gate and findings, speed by time to token k, the bar: moat and the noise
measured on this machine) and answers: would it take the lead, be paid as runner-up, or why not,
with the next step. A validator also reproduces a win on a second pod with another seed: run
again with another --seed to see it hold.

Options:
  --image REF@DIGEST   your image, pinned by digest (required)
  --leader REF@DIGEST  the current leader's image: run beside yours, as validators do (the
                       published leaderboard names it); without it you are judged for an empty seat
  --baseline REF@DIGEST  the pinned baseline (default: rounds.baselineImage of the configuration)
  --seed HEX           the job's seed: the same seed and secret make the same prompts (default random)
  --secret HEX         secret your generated prompts derive from (default: a new one each run;
                       validators keep theirs private, so you never see their prompts)
  --config FILE        a controller configuration file (YAML/JSON); CACHEON_CONTROLLER_* too
  --network MODE       internal | host                                     (default internal)
  --nvidia-smi PATH    nvidia-smi the hardware probe and the GPU gates run  (default: on PATH)
  --nofile N           open-files limit in the containers (validators use 65536; lower it
                       when this engine may not raise it)                      (default 65536)
  --direct-pulls       pull from the registry directly (when the engine cannot reach the
                       agent's loopback pull gate)
  --html FILE          write the report as one self-contained HTML page
  --json               print the whole evaluation as JSON on stdout
  -h, --help           this help

Exit codes: 0 it would be paid (leader or runner-up); 1 it would not (failed, below the bar);
2 usage error, or the job could not decide (baseline not measured); 130 interrupted.

Example:
  cacheon-miner evaluate --image ghcr.io/me/fast@sha256:<digest> --leader ghcr.io/them/x@sha256:<digest>
`,
  options: {
    image: { type: "string" },
    leader: { type: "string" },
    baseline: { type: "string" },
    seed: { type: "string" },
    secret: { type: "string" },
    config: { type: "string" },
    network: { type: "string" },
    "nvidia-smi": { type: "string" },
    nofile: { type: "string" },
    "direct-pulls": { type: "boolean" },
    html: { type: "string" },
  },
  async run(values, _positionals, io) {
    const str = (name: string) => values[name] as string | undefined;
    const pinned = (flag: string, text: string | undefined) => {
      if (!text) throw new CacheonError("invalid-argument", `--${flag} REF@DIGEST is required`);
      try {
        return formatImageReference(parseImageReference(text));
      } catch (error) {
        throw new CacheonError("invalid-argument", `--${flag}: ${(error as Error).message}`);
      }
    };
    const image = pinned("image", str("image"));
    const leader = str("leader") ? pinned("leader", str("leader")) : undefined;
    const seed = jobSeedFlag(str("seed"));
    const network = networkModeFlag(str("network"));
    const nofile = nofileFlag(str("nofile"));
    const promptSecret = parsePromptSecret(str("secret") ?? newPromptSecret(), "--secret");
    // The validator's settings: the controller's own schema and resolution, so defaults cannot drift.
    const { controllerConfigSchema, controllerEnvPrefix } = await import(
      "../../controller/config/controller-config.ts"
    );
    const { resolveControllerSettings } = await import("../../controller/cli/controller-settings.ts");
    const loaded = loadConfig({
      schema: controllerConfigSchema,
      file: str("config"),
      env: io.env,
      envPrefix: controllerEnvPrefix,
    });
    const settings = resolveControllerSettings(loaded.values);
    const baseline = str("baseline") ? pinned("baseline", str("baseline")) : settings.rounds.baselineImage;
    if (!baseline)
      throw new CacheonError(
        "invalid-argument",
        "no baseline: pass --baseline REF@DIGEST or set rounds.baselineImage (CACHEON_CONTROLLER_ROUNDS_BASELINE_IMAGE)",
      );
    const rounds = { ...settings.rounds, baselineImage: pinned("baseline", baseline) };

    const { default: Docker } = await import("dockerode");
    const { runPodJob } = await import("../../agent/job/run-pod-job.ts");
    const { evaluateImage } = await import("../evaluate/evaluate-image.ts");
    const { evaluationAnswer } = await import("../evaluate/evaluation-answer.ts");
    const docker = new Docker({ socketPath: io.env.DOCKER_SOCKET ?? "/var/run/docker.sock" });
    const logger = createLogger({
      stream: io.stderr as never,
      level: io.env.CACHEON_DEBUG ? "debug" : "warn",
    });
    const progress = jobProgress(io.stderr);
    const evaluation = await evaluateImage({
      settings: rounds,
      policy: settings.scoring,
      image,
      leader,
      seed,
      promptSecret,
      signal: io.signal,
      executor: (job, context) =>
        runPodJob(job, context, {
          docker,
          logger,
          networkMode: network,
          hostGuard: "best-effort",
          nvidiaSmiPath: str("nvidia-smi"),
          env: io.env,
          limits: { nofile },
          ...(values["direct-pulls"] ? { pullGate: false } : {}),
        }),
      emit: progress.emit,
    });
    progress.finish();
    if (io.signal.aborted) return ExitCode.interrupted;
    const answer = evaluationAnswer(evaluation);
    const htmlFile = str("html");
    if (htmlFile) {
      const { renderEvaluationHtml } = await import("../evaluate/evaluation-page.ts");
      writeFileSync(htmlFile, renderEvaluationHtml(evaluation, answer));
    }
    if (values.json)
      io.stdout.write(
        `${JSON.stringify(
          {
            seed,
            image,
            leader: leader ?? null,
            ...answer,
            reading: evaluation.reading ?? null,
            score: evaluation.score,
            result: toJson(JobResultSchema, evaluation.result),
          },
          null,
          2,
        )}\n`,
      );
    else io.stdout.write(renderAnswer(answer, seed));
    if (answer.verdict === "leader" || answer.verdict === "runner-up") return ExitCode.ok;
    return answer.verdict === "failed" || answer.verdict === "below-bar" ? ExitCode.negative : ExitCode.usage;
  },
};

/** The answer for a person: the verdict first, then the figures behind it. */
export function renderAnswer(answer: EvaluationAnswer, seed: string): string {
  const lines = [`verdict: ${answer.verdict} (seed ${seed})`, answer.answer, `next: ${answer.nextStep}`];
  lines.push(`speed: ${answer.speed.toFixed(3)}x the baseline (time to token k)`);
  if (answer.bar)
    lines.push(
      `bar: ${answer.bar.ratio.toFixed(3)}x the ${answer.bar.against}, needed ${answer.bar.needed.toFixed(3)}x (noise ${(answer.bar.noise * 100).toFixed(1)}%)`,
    );
  if (answer.prompts.length > 0) {
    lines.push("per prompt (median over repetitions):");
    for (const p of answer.prompts)
      lines.push(
        `  ${p.promptId.padEnd(14)} ${(p.kind || "-").padEnd(7)} ttft ${p.ttftMs.toFixed(0).padStart(6)} ms  e2e ${p.e2eMs.toFixed(0).padStart(7)} ms  ${p.verdict}${p.reasons.length > 0 ? ` (${p.reasons.join(", ")})` : ""}`,
      );
  }
  for (const c of answer.correctness) lines.push(`correctness: ${c}`);
  for (const f of answer.findings) lines.push(`finding: ${f}`);
  return `${lines.join("\n")}\n`;
}
