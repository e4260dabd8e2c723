import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { type CliCommand, ExitCode } from "../../shared/cli/cli-command.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { sha256Hex } from "../../shared/evidence/canonical-json.ts";
import { decodeEvidence, type EvidenceBundle } from "../../shared/evidence/evidence-bundle.ts";
import { qwenTokenizer } from "../../shared/tokenizer/qwen-tokenizer.ts";
import { type RegradedJob, regradeJob } from "../job/regrade-job.ts";

/** A bundle file that was not judged, and why. */
export interface RefusedBundle {
  file: string;
  reason: string;
}

/** `cacheon-agent regrade`: judges a job again from its arms' evidence bundles, offline. */
export const regradeCommand: CliCommand = {
  name: "regrade",
  summary: "judge a job again from its evidence bundles, offline, and say whether the verdicts are the same",
  help: `Usage: cacheon-agent regrade BUNDLE|DIR... [--summary FILE] [--json]

Reads evidence bundles (each arm's timed outputs, job spec, hardware report, container log and
the closing baseline's teacher forcing, as published at rounds/<id>/evidence/<sha256>.json) and
judges each job again with the agent's own judging code: correctness against the opening
baseline, tolerances calibrated by the bookends, the probe and speed-outlier findings, times to
token k. Nothing is sent anywhere: the closing baseline's scores are replayed as recorded.

A bundle is refused, never judged in part, when its bytes are not canonical, when its file is
named by a digest the bytes do not have, when it is not listed in --summary (a round summary) for
its job and arm, or when any part has the wrong shape. Give every arm's bundle of a job: the
baselines' are the reference, and an arm without its bundle is named missing.

Options:
  --summary FILE  a round's summary.json: each bundle must be one it lists (digest, job, arm), and
                  its arms without a bundle given are named missing
  --json          print { jobs: [...], refused: [...] }
  -h, --help      this help

Exit codes: 0 every verdict judged again is the same; 1 a verdict differs, a bundle was refused or
is missing; 2 usage error or nothing to judge; 130 interrupted.

Examples:
  cacheon-agent regrade rounds/42/evidence/
  cacheon-agent regrade --summary rounds/42/summary.json rounds/42/evidence/*.json --json
`,
  options: { summary: { type: "string" } },
  allowPositionals: true,
  async run(values, positionals, io) {
    if (positionals.length === 0)
      throw new CacheonError("invalid-argument", "give the evidence bundles (files or folders) to regrade");
    const listed = values.summary ? summaryDigests(String(values.summary)) : undefined;
    const refused: RefusedBundle[] = [];
    const bundles: EvidenceBundle[] = [];
    for (const file of bundleFiles(positionals)) {
      try {
        bundles.push(readBundle(file, listed));
      } catch (error) {
        refused.push({ file, reason: CacheonError.from(error).message });
      }
    }
    const groups = new Map<string, EvidenceBundle[]>();
    for (const b of bundles) groups.set(b.jobSha256, [...(groups.get(b.jobSha256) ?? []), b]);
    const tokenizer = qwenTokenizer();
    const jobs: RegradedJob[] = [];
    for (const group of groups.values()) {
      io.signal.throwIfAborted();
      const job = await regradeJob(group, { tokenizer, signal: io.signal });
      // Arms the summary lists for this job but no bundle was given for are missing too.
      const more = listed?.arms
        .get(job.jobId)
        ?.filter((a) => !job.missing.includes(a) && !group.some((b) => b.armId === a));
      if (more?.length) jobs.push({ ...job, missing: [...job.missing, ...more], same: false });
      else jobs.push(job);
    }
    if (values.json) io.stdout.write(`${JSON.stringify({ jobs, refused }, null, 2)}\n`);
    else io.stdout.write(renderRegrade(jobs, refused));
    if (jobs.length === 0 && refused.length === 0) return ExitCode.usage;
    return jobs.every((j) => j.same) && refused.length === 0 ? ExitCode.ok : ExitCode.negative;
  },
};

/** The files named: each file as given, each folder's *.json files in name order. */
function bundleFiles(paths: string[]): string[] {
  return paths.flatMap((p) => {
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch (error) {
      throw new CacheonError("invalid-argument", `cannot read ${p}: ${(error as Error).message}`);
    }
    if (!isDir) return [p];
    return readdirSync(p)
      .filter((f) => f.endsWith(".json"))
      .sort()
      .map((f) => join(p, f));
  });
}

/** The digests a round summary lists, by sha256 ("job/arm"), and each job's arms. */
function summaryDigests(file: string): { bySha: Map<string, string>; arms: Map<string, string[]> } {
  let summary: {
    schema?: string;
    jobs?: { jobId: string; arms?: { armId: string; evidence?: { digest: string } | null }[] }[];
  };
  try {
    summary = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new CacheonError("invalid-argument", `--summary ${file}: ${(error as Error).message}`);
  }
  if (summary.schema !== "cacheon.round-summary.v1" || !Array.isArray(summary.jobs))
    throw new CacheonError(
      "invalid-argument",
      `--summary ${file} is not a cacheon.round-summary.v1 document`,
    );
  const bySha = new Map<string, string>();
  const arms = new Map<string, string[]>();
  for (const job of summary.jobs)
    for (const arm of job.arms ?? []) {
      if (!arm.evidence) continue;
      bySha.set(arm.evidence.digest.replace(/^sha256:/, ""), `${job.jobId}/${arm.armId}`);
      arms.set(job.jobId, [...(arms.get(job.jobId) ?? []), arm.armId]);
    }
  return { bySha, arms };
}

/** Reads one bundle, checked against its file name and the summary when given. */
function readBundle(file: string, listed: { bySha: Map<string, string> } | undefined): EvidenceBundle {
  const named = /^([0-9a-f]{64})\.json$/.exec(basename(file))?.[1];
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(file));
  } catch (error) {
    throw new CacheonError("invalid-argument", `cannot read it: ${(error as Error).message}`);
  }
  const bundle = decodeEvidence(bytes, { ...(named ? { expectedSha256: named } : {}), what: "the bundle" });
  if (listed) {
    const sha = sha256Hex(bytes);
    const at = listed.bySha.get(sha);
    if (!at)
      throw new CacheonError("invalid-argument", `its sha256 ${sha} is not among the summary's bundles`);
    if (at !== `${bundle.job.jobId}/${bundle.armId}`)
      throw new CacheonError(
        "invalid-argument",
        `the summary lists its digest for ${at}, but it is the bundle of ${bundle.job.jobId}/${bundle.armId}`,
      );
  }
  return bundle;
}

/** The text report: per job, each arm's recorded and re-judged verdict; then refused bundles. */
export function renderRegrade(jobs: readonly RegradedJob[], refused: readonly RefusedBundle[]): string {
  const lines: string[] = [];
  for (const job of jobs) {
    lines.push(
      `job ${job.jobId} (round ${job.roundId || "-"}): ${job.same ? "SAME verdicts" : "NOT the same"}`,
    );
    for (const arm of job.arms) {
      lines.push(`  ${arm.same ? "same   " : "DIFFERS"} ${arm.armId} (${arm.role})`);
      lines.push(`          recorded:     ${arm.recorded}`);
      if (!arm.same) lines.push(`          judged again: ${arm.regraded}`);
      for (const d of arm.differences) lines.push(`          - ${d}`);
    }
    if (job.missing.length > 0) lines.push(`  missing bundles: ${job.missing.join(", ")}`);
  }
  for (const r of refused) lines.push(`REFUSED ${r.file}: ${r.reason}`);
  if (jobs.length === 0 && refused.length === 0) lines.push("no bundles found");
  return `${lines.join("\n")}\n`;
}
