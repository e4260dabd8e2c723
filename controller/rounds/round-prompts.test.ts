import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromJson } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import type { EvaluationJob } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { WorkloadPromptsSchema } from "../../shared/gen/cacheon/v1/workload_pb.ts";
import { jobPrompts } from "../../shared/workload/job-prompts.ts";
import { parsePromptSecret } from "../../shared/workload/prompt-key.ts";
import { smallGeneratedWorkload } from "../../shared/workload/testing/small-generated-workload.ts";
import { ingestCommitments } from "../intake/ingest-commitments.ts";
import { localFolderSink } from "../publish/artefact-sink.ts";
import { publishRound } from "../publish/publish-round.ts";
import { defaultScoringPolicy } from "../scoring/scoring-policy.ts";
import { openStore } from "../store/controller-store.ts";
import { createLocalJobRunner, type JobRunner } from "./job-runner.ts";
import { publishedJobPrompts } from "./round-prompts.ts";
import { runRound } from "./run-round.ts";
import { simulatedPod } from "./simulated-pod.ts";
import { scenarioCommitments, scenarioSettings, scenarioSimImages } from "./testing/sim-scenario.ts";

const secretHex = "7e".repeat(32);
const secret = parsePromptSecret(secretHex);

describe("a round with generated prompts", () => {
  it("sends every job its own prompts, made as it leaves and kept out of the store", async () => {
    const store = openStore({ path: ":memory:" });
    ingestCommitments({ store, snapshot: { block: 50, entries: scenarioCommitments } });
    const local = createLocalJobRunner({
      pods: {
        "pod-a": simulatedPod("pod-a", { images: scenarioSimImages }),
        "pod-b": simulatedPod("pod-b", { images: scenarioSimImages }),
      },
    });
    const sent: EvaluationJob[] = [];
    const runner: JobRunner = {
      ...local,
      run: (pod, j, signal) => {
        sent.push(j);
        return local.run(pod, j, signal);
      },
    };
    const round = await runRound(
      {
        store,
        runner,
        settings: { ...scenarioSettings, workload: smallGeneratedWorkload, validatorSecret: secretHex },
        policy: defaultScoringPolicy,
        finalizedHead: async () => ({ block: 100, hash: `0x${"ab".repeat(32)}` }),
        pollMs: 5,
      },
      new AbortController().signal,
    );
    expect(round?.state).toBe("settled");
    expect(sent.length).toBeGreaterThan(1);
    for (const j of sent) {
      expect(j.prompts?.prompts.length).toBe(10);
      expect(j.prompts).toEqual(await jobPrompts(j, secret));
    }
    // Jobs with other seeds (reproductions) got other prompts.
    const bySeed = new Map(sent.map((j) => [j.roundSeed, JSON.stringify(j.prompts?.prompts[0])]));
    expect(new Set(bySeed.values()).size).toBe(bySeed.size);
    for (const row of store.jobs.list(round?.id ?? ""))
      expect(JSON.stringify(row.job)).not.toContain("Document 1");

    // Settled: the prompts are published for audit, made again from the secret, as they were sent.
    const folder = mkdtempSync(join(tmpdir(), "cacheon-prompts-"));
    await publishRound({
      store,
      sink: localFolderSink(folder),
      roundId: round?.id ?? "",
      jobPrompts: publishedJobPrompts(secretHex),
    });
    let published = 0;
    for (const row of store.jobs.list(round?.id ?? "")) {
      const match = sent.find((j) => j.jobId === row.id);
      if (!match) continue;
      const file = join(folder, "rounds", round?.id ?? "", "prompts", `${row.id}.json`);
      expect(fromJson(WorkloadPromptsSchema, JSON.parse(readFileSync(file, "utf8")))).toEqual(match.prompts);
      published += 1;
    }
    expect(published).toBeGreaterThan(1);
    // A job made by another version of the generator is not published: these prompts would differ.
    const first = sent[0] as EvaluationJob;
    const older = { ...first, workload: { ...first.workload, promptSource: "generated:cacheon-gen-v0" } };
    expect(await publishedJobPrompts(secretHex)(older as EvaluationJob)).toBeUndefined();
  });
});
