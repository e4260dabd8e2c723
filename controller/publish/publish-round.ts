import { fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { type EvaluationJob, EvaluationJobSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { type WorkloadPrompts, WorkloadPromptsSchema } from "../../shared/gen/cacheon/v1/workload_pb.ts";
import type { EvidenceStore } from "../evidence/evidence-store.ts";
import { publishRoundEvidence } from "../evidence/publish-round-evidence.ts";
import type { ControllerStore } from "../store/controller-store.ts";
import type { ArtefactSink } from "./artefact-sink.ts";
import type { PublishedPolicy } from "./leaderboard-document.ts";
import { publishLeaderboard } from "./publish-leaderboard.ts";
import { roundSummary } from "./round-summary.ts";

/** Options of {@link publishRound}. */
export interface PublishRoundOptions {
  store: ControllerStore;
  sink: ArtefactSink;
  roundId: string;
  /**
   * A job's generated prompts, made again for publication (the store never holds them); undefined
   * for a job that has none. @default none are published
   */
  jobPrompts?: (job: EvaluationJob) => Promise<WorkloadPrompts | undefined>;
  /** The policy numbers the published page shows miners. @default not shown */
  policy?: PublishedPolicy | undefined;
  /**
   * Where the jobs' evidence bundles were kept (artefacts.*): each one the agent named is
   * published at `rounds/<id>/evidence/<sha256>.json`. @default none kept, each listed as such
   */
  evidence?: EvidenceStore | undefined;
}

/**
 * Publishes a settled round: `rounds/<id>/summary.json`, each job attempt's raw result
 * `rounds/<id>/jobs/<job>.json`, the prompts of each job that generated them
 * `rounds/<id>/prompts/<job>.json` (for audit, only now that the round is settled), each arm's
 * evidence bundle `rounds/<id>/evidence/<sha256>.json` (it holds the prompts too), each miner's
 * report `rounds/<id>/miners/<hotkey>.json` and `miners/<hotkey>/latest.json`, then the
 * leaderboard (`leaderboard.json`, `index.html`) with the round in its history. Writing again
 * writes the same objects, so a publication cut short
 * by a stop is simply repeated; the round is marked published only after every object is written.
 */
export async function publishRound(
  options: PublishRoundOptions,
): Promise<{ location: string; objects: number }> {
  const { store, sink, roundId } = options;
  const round = store.rounds.get(roundId);
  if (round?.state !== "settled")
    throw new Error(`round ${roundId} is not settled; only settled rounds are published`);
  const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
  const base = `rounds/${round.id}`;
  let objects = 0;
  const put = async (key: string, value: unknown) => {
    await sink.put(key, json(value), "application/json");
    objects += 1;
  };
  for (const job of store.jobs.list(round.id)) {
    await put(`${base}/jobs/${job.id}.json`, {
      job: job.job,
      podId: job.podId,
      state: job.state,
      decision: job.decision,
      reason: job.reason,
      result: job.result,
      score: job.score,
    });
    const prompts = await options.jobPrompts?.(fromJson(EvaluationJobSchema, job.job as JsonValue));
    if (prompts) await put(`${base}/prompts/${job.id}.json`, toJson(WorkloadPromptsSchema, prompts));
  }
  objects += await publishRoundEvidence({ store, sink, roundId: round.id, evidence: options.evidence });
  for (const report of store.minerReports.list({ roundId: round.id })) {
    await put(`${base}/miners/${report.hotkey}.json`, report.report);
    await put(`miners/${report.hotkey}/latest.json`, report.report);
  }
  await put(`${base}/summary.json`, roundSummary(store, round));
  await publishLeaderboard({ store, sink, policy: options.policy });
  objects += 2;
  const location = sink.locate(`${base}/summary.json`);
  store.transaction(() => store.rounds.setPublished(round.id, location));
  return { location, objects };
}

/** Publishes every settled round not yet published (a stop between settling and publishing is caught up here). */
export async function publishPendingRounds(options: Omit<PublishRoundOptions, "roundId">): Promise<string[]> {
  const done: string[] = [];
  const rounds = options.store.rounds
    .list(1000)
    .filter((r) => r.state === "settled" && r.publishedAt === null)
    .reverse();
  for (const r of rounds) {
    await publishRound({ ...options, roundId: r.id });
    done.push(r.id);
  }
  return done;
}
