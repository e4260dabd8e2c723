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
  });
});
