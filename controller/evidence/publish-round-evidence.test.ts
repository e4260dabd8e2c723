import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { decodeEvidence } from "../../shared/evidence/evidence-bundle.ts";
import { createTestBucket } from "../../test/support/s3-test-bucket.ts";
import { ingestCommitments } from "../intake/ingest-commitments.ts";
import { localFolderSink, s3Sink } from "../publish/artefact-sink.ts";
import type { LeaderboardDocument } from "../publish/leaderboard-document.ts";
import { publishRound } from "../publish/publish-round.ts";
import type { RoundSummary } from "../publish/round-summary.ts";
import { createLocalJobRunner } from "../rounds/job-runner.ts";
import { defaultRoundSettings } from "../rounds/round-settings.ts";
import { runRound } from "../rounds/run-round.ts";
import { simulatedPod } from "../rounds/simulated-pod.ts";
import { defaultScoringPolicy } from "../scoring/scoring-policy.ts";
import { openStore } from "../store/controller-store.ts";
import { artefactS3Client } from "./artefact-evidence-store.ts";
import { type EvidenceStore, folderEvidenceStore } from "./evidence-store.ts";
import { s3EvidenceStore } from "./s3-evidence-store.ts";
import { withEvidenceBundles } from "./testing/with-evidence-bundles.ts";

const d = (c: string) => `sha256:${c.repeat(64)}`;

/** A settled round whose pods keep their bundles in `evidence` (local mode), as serve wires it. */
async function settledRound(evidence: EvidenceStore | undefined) {
  const store = openStore({ path: ":memory:" });
  const images = { [d("0")]: { speed: 1 }, [d("1")]: { speed: 1.4 } };
  ingestCommitments({
    store,
    snapshot: {
      block: 9,
      entries: [{ hotkey: "bob", uid: 1, raw: `127.0.0.1:5000/b/x@${d("1")}`, commitBlock: 5 }],
    },
  });
  const pod = (name: string) => withEvidenceBundles(simulatedPod(name, { images }));
  const round = await runRound(
    {
      store,
      runner: createLocalJobRunner({
        pods: { a: pod("a"), b: pod("b") },
        ...(evidence ? { keep: (jobId, name, body) => evidence.keep(jobId, name, body) } : {}),
      }),
      settings: {
        ...defaultRoundSettings,
        baselineImage: `127.0.0.1:5000/base@${d("0")}`,
        workload: { requests: 10 },
        hardwareProfile: "none",
      },
      policy: defaultScoringPolicy,
      finalizedHead: async () => ({ block: 10, hash: "0x0a0b" }),
    },
    new AbortController().signal,
  );
  const roundId = round?.id as string;
  return { store, roundId, jobs: store.jobs.list(roundId).filter((j) => j.state === "done") };
}

const readJson = <T>(path: string) => JSON.parse(readFileSync(path, "utf8")) as T;

describe("publishRoundEvidence", () => {
  it("publishes every arm's bundle under its digest, listed in the round summary and the leaderboard", async () => {
    const kept = mkdtempSync(join(tmpdir(), "evidence-kept-"));
    const out = mkdtempSync(join(tmpdir(), "evidence-pub-"));
    const { store, roundId, jobs } = await settledRound(folderEvidenceStore(kept));
    const evidence = folderEvidenceStore(kept);
    expect(jobs.length).toBeGreaterThanOrEqual(2);
    await publishRound({ store, sink: localFolderSink(out), roundId, evidence });

    const summary = readJson<RoundSummary>(join(out, "rounds", roundId, "summary.json"));
    const arms = summary.jobs.filter((j) => j.state === "done").flatMap((j) => j.arms.map((a) => ({ j, a })));
    expect(arms.length).toBeGreaterThanOrEqual(6);
    for (const { j, a } of arms) {
      const ref = a.evidence;
      if (!ref?.key) throw new Error(`${j.jobId}/${a.armId} has no published bundle: ${ref?.problem}`);
      expect(ref.key).toBe(`rounds/${roundId}/evidence/${ref.digest.slice("sha256:".length)}.json`);
      const bytes = readFileSync(join(out, ref.key));
      expect(bytes.byteLength).toBe(ref.bytes);
      // Anyone holding the digest from the summary can check the bytes are the agent's bundle.
      const bundle = decodeEvidence(bytes, { expectedSha256: ref.digest.slice("sha256:".length) });
      expect(bundle.job.jobId).toBe(j.jobId);
      expect(bundle.armId).toBe(a.armId);
      expect(bundle.result.outcome).toBeGreaterThan(0);
    }
    // The miners' leaderboard points at the same bundles from each measurement.
    const board = readJson<LeaderboardDocument>(join(out, "leaderboard.json"));
    const measurements = board.miners.flatMap((m) => m.attempts.flatMap((t) => t.measurements));
    expect(measurements.length).toBeGreaterThan(0);
    for (const m of measurements) {
      const job = summary.jobs.find((j) => j.jobId === m.jobId);
      expect(m.evidence?.map((e) => e.digest)).toEqual(job?.arms.map((a) => a.evidence?.digest));
    }
    rmSync(kept, { recursive: true });
    rmSync(out, { recursive: true });
  });

  it("never publishes kept bytes the agent did not name, and says which bundles are missing", async () => {
    const kept = mkdtempSync(join(tmpdir(), "evidence-kept-"));
    const out = mkdtempSync(join(tmpdir(), "evidence-pub-"));
    const { store, roundId, jobs } = await settledRound(folderEvidenceStore(kept));
    const job = jobs[0];
    if (!job) throw new Error("no job");
    // Someone with access to the artefacts changes one logprob of a challenger's bundle and
    // deletes the closing baseline's.
    const challenger = join(kept, "jobs", job.id, "arms", "a1", "evidence.json");
    const text = readFileSync(challenger, "utf8");
    writeFileSync(
      challenger,
      text.replace('"outcome":"ARM_OUTCOME_MEASURED"', '"outcome":"ARM_OUTCOME_CRASHED"'),
    );
    expect(readFileSync(challenger, "utf8")).not.toBe(text);
    rmSync(join(kept, "jobs", job.id, "arms", "a2", "evidence.json"));
    await publishRound({ store, sink: localFolderSink(out), roundId, evidence: folderEvidenceStore(kept) });
    const summary = readJson<RoundSummary>(join(out, "rounds", roundId, "summary.json"));
    const arms = summary.jobs.find((j) => j.jobId === job.id)?.arms ?? [];
    const of = (armId: string) => arms.find((a) => a.armId === armId)?.evidence;
    expect(of("a1")).toMatchObject({
      key: null,
      problem: expect.stringMatching(/kept bytes have sha256 .* not the/),
    });
    expect(of("a2")).toMatchObject({ key: null, problem: expect.stringMatching(/^not found in file:/) });
    expect(of("a0")?.key).toMatch(/^rounds\/.*\/evidence\/[0-9a-f]{64}\.json$/);
    // The changed bytes are nowhere in the publication.
    const published = store.evidence.list([job.id]);
    expect(published.filter((r) => r.publishedKey).map((r) => r.armId)).toEqual(["a0"]);
    rmSync(kept, { recursive: true });
    rmSync(out, { recursive: true });
  });

  it("lists the digests even when no artefact store is configured, each as not kept", async () => {
    const out = mkdtempSync(join(tmpdir(), "evidence-pub-"));
    const { store, roundId } = await settledRound(undefined);
    await publishRound({ store, sink: localFolderSink(out), roundId });
    const summary = readJson<RoundSummary>(join(out, "rounds", roundId, "summary.json"));
    const refs = summary.jobs.filter((j) => j.state === "done").flatMap((j) => j.arms.map((a) => a.evidence));
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs)
      expect(ref).toMatchObject({
        digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
        key: null,
        problem: "not kept: artefacts.target is none",
      });
    rmSync(out, { recursive: true });
  });

  it("keeps bundles in the artefacts bucket and publishes them to S3 (the real S3 server)", async () => {
    const { bucket, client, s3, remove } = await createTestBucket("cacheon-evidence");
    const location = {
      endpoint: s3.endpoint,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
    };
    const evidence = s3EvidenceStore({
      client: artefactS3Client({ bucket, prefix: "artefacts/", region: s3.region, ...location }),
      bucket,
      prefix: "artefacts/",
    });
    expect(await evidence.read("job-x", "arms/a0/evidence.json")).toBeUndefined();
    const { store, roundId } = await settledRound(evidence);
    await publishRound({ store, sink: s3Sink({ bucket, prefix: "public", ...location }), roundId, evidence });
    const published = store.evidence.list().filter((r) => r.publishedKey);
    expect(published.length).toBeGreaterThanOrEqual(6);
    const first = published[0];
    const got = await client.send(
      new GetObjectCommand({ Bucket: bucket, Key: `public/${first?.publishedKey}` }),
    );
    const bytes = await got.Body?.transformToByteArray();
    expect(decodeEvidence(bytes ?? new Uint8Array(), { expectedSha256: first?.sha256 }).armId).toBe(
      first?.armId,
    );
    await remove();
  });
});
