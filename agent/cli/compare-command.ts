import { type CliCommand, ExitCode } from "../../shared/cli/cli-command.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { findingsAgainstServer } from "../../shared/findings/findings-against-server.ts";
import { loadWorkloadConfig } from "../bench/bench-config.ts";
import { compareEndpoints } from "../bench/compare-endpoints.ts";
import { writeReportFile } from "../bench/write-report-files.ts";
import { benchReportJson, type CompareReportJson, correctnessJson } from "../report/bench-report.ts";
import { formatBenchSummary } from "../report/format-summary.ts";
import { renderHtmlReport } from "../report/render-html-report.ts";
import { progress, workloadFlags, workloadFlagsHelp } from "./bench-command.ts";

/** `cacheon-agent compare`: measures a reference and a candidate on one workload and judges the candidate. */
export const compareCommand: CliCommand = {
  name: "compare",
  summary: "run a reference and a candidate server on the same workload: speed ratio and correctness verdict",
  help: `Usage: cacheon-agent compare --reference URL --candidate URL --model NAME [options]

Measures the reference (e.g. the pinned vLLM baseline) and then the candidate with the same
seeded requests, keeps every timed output (one pass: the requests that are timed are the ones
that are checked), has the reference score the candidate's tokens (teacher forcing through its
/tokenize and /v1/completions prompt_logprobs), and judges every output over its whole length
(docs/miner.md has the rules): integrity (known token ids, streamed text equal to their decoding,
re-tokenised count, usage, finish reason), the first divergence (each side's token in the other's
top-k), reported logprobs, length, and under teacher forcing each token's rank and gap to the
reference's best, the lowest and mean log-likelihood, and whether the model would stop where
the candidate stopped. Something the reference fails at makes the verdict no decision.

Options:
  --reference URL       the reference server (it also scores the candidate's outputs)
  --candidate URL       the server under test
  --no-teacher-forcing  skip scoring by the reference (for servers without /tokenize; not a
                        validator's verdict)
${workloadFlagsHelp}
  -h, --help            this help

Speed is scored by time to token k: per request, k = the fewer tokens of the two outputs, and
each side's time runs from sending the request to the arrival of its k-th token; the speed ratio
is the median over requests of reference time / candidate time (above 1 the candidate is faster).
Whole wall time (reference wall / candidate wall) is reported beside it.

JSON report keys: verdict (pass | fail | no-decision), speed_ratio, speed_statistic (time-to-token-k, or
whole-wall when --top-logprobs is 0), wall_ratio, seed, model, reference and candidate (each as in \`bench --json\`),
correctness {passed, no_decision_reason, prompts, prompts_passed, prompts_failed, prompts_missing, reasons,
thresholds, evidence[] per output}.

Exit codes: 0 the candidate is correct, completed every request and nothing was flagged;
1 it is not, or no decision could be reached (the reasons name the outputs); 2 usage or
configuration error, or a server could not be reached at all.

Example:
  cacheon-agent compare --reference http://127.0.0.1:8000 --candidate http://127.0.0.1:8001 \\
      --model Qwen/Qwen2.5-72B-Instruct --requests 10 --max-tokens 256 --repetitions 3
`,
  options: {
    reference: { type: "string" },
    candidate: { type: "string" },
    "no-teacher-forcing": { type: "boolean" },
    ...workloadFlags,
  },
  async run(values, _positionals, io) {
    const reference = values.reference as string | undefined;
    const candidate = values.candidate as string | undefined;
    if (!reference || !candidate) {
      throw new CacheonError("invalid-argument", "--reference URL and --candidate URL are both required");
    }
    const { workload, seed, prompts, schedule } = loadWorkloadConfig(values, io.env);
    const bars = new Map<string, ReturnType<typeof progress>>();
    let current = "";
    const result = await compareEndpoints({
      reference,
      candidate,
      workload,
      roundSeed: seed,
      prompts,
      ...(schedule ? { schedule } : {}),
      signal: io.signal,
      teacherForcing: !values["no-teacher-forcing"],
      onProgress: (phase, done, total) => {
        if (phase !== current) bars.get(current)?.finish();
        current = phase;
        let bar = bars.get(phase);
        if (!bar) {
          bar = progress(io, phase);
          bars.set(phase, bar);
        }
        bar.update(done, total);
      },
    });
    bars.get(current)?.finish();
    const refReport = benchReportJson({
      endpoint: reference,
      model: workload.model,
      seed,
      summary: result.reference.summary,
      requests: result.reference.requests,
    });
    const candReport = benchReportJson({
      endpoint: candidate,
      model: workload.model,
      seed,
      summary: result.candidate.summary,
      requests: result.candidate.requests,
    });
    // A client-bound finding is this machine's limitation, not the candidate's: reported, not failed.
    const passed =
      result.correctness.passed &&
      candReport.failed === 0 &&
      findingsAgainstServer(candReport.findings).length === 0;
    const undecided = !passed && result.correctness.noDecisionReason !== "";
    const report: CompareReportJson = {
      verdict: passed ? "pass" : undecided ? "no-decision" : "fail",
      speed_ratio: Math.round(result.speedRatio * 1e6) / 1e6,
      speed_statistic: result.speedStatistic,
      wall_ratio: Math.round(result.wallRatio * 1e6) / 1e6,
      seed,
      model: workload.model,
      reference: refReport,
      candidate: candReport,
      correctness: correctnessJson(result.correctness),
    };
    if (values.json !== "-") {
      io.stdout.write(formatBenchSummary(refReport, "reference"));
      io.stdout.write(formatBenchSummary(candReport, "candidate"));
      const c = result.correctness;
      io.stdout.write(
        `speed ratio ${report.speed_ratio.toFixed(4)} (${report.speed_statistic}; above 1 the candidate is faster), whole-wall ratio ${report.wall_ratio.toFixed(4)}\n` +
          `correctness ${c.passed ? "passed" : c.noDecisionReason ? `NO DECISION (${c.noDecisionReason})` : "FAILED"}: ${c.prompts} outputs, ${c.promptsPassed} passed, ${c.promptsFailed} failed, ${c.promptsMissing} not judged\n` +
          c.reasons.map((r) => `  - ${r}\n`).join("") +
          `verdict ${report.verdict.toUpperCase()}\n`,
      );
    }
    if (values.json)
      writeReportFile(values.json as string, `${JSON.stringify(report, null, 2)}\n`, io.stdout);
    if (values.html) {
      writeReportFile(
        values.html as string,
        renderHtmlReport({
          title: `cacheon compare: ${candidate} vs ${reference}`,
          arms: [
            { name: `reference ${reference}`, report: refReport, timeline: result.reference.timeline },
            { name: `candidate ${candidate}`, report: candReport, timeline: result.candidate.timeline },
          ],
          verdict: report.verdict,
          speedRatio: report.speed_ratio,
          speedStatistic: report.speed_statistic,
          correctness: report.correctness,
        }),
        io.stdout,
      );
    }
    for (const [name, r] of [
      ["reference", refReport],
      ["candidate", candReport],
    ] as const) {
      if (r.completed === 0 && (r.failures_by_code.connection ?? 0) === r.requests) {
        io.stderr.write(
          `cacheon-agent compare: could not connect to the ${name} ${r.endpoint}: is the server up?\n`,
        );
        return ExitCode.usage;
      }
    }
    return passed ? ExitCode.ok : ExitCode.negative;
  },
};
