import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { createTestBucket } from "../../test/support/s3-test-bucket.ts";
import { ingestCommitments } from "../intake/ingest-commitments.ts";
import { createLocalJobRunner } from "../rounds/job-runner.ts";
import { defaultRoundSettings } from "../rounds/round-settings.ts";
import { runRound } from "../rounds/run-round.ts";
import { simulatedPod } from "../rounds/simulated-pod.ts";
import { defaultScoringPolicy } from "../scoring/scoring-policy.ts";
import { openStore } from "../store/controller-store.ts";
import { checkKey, localFolderSink, s3Sink } from "./artefact-sink.ts";
import type { MinerReport } from "./miner-report.ts";
import { publishRound } from "./publish-round.ts";
import type { RoundSummary } from "./round-summary.ts";

const d = (c: string) => `sha256:${c.repeat(64)}`;

async function settledRound() {
  const store = openStore({ path: ":memory:" });
  const images = { [d("0")]: { speed: 1 }, [d("1")]: { speed: 1.4 }, [d("2")]: { speed: 2, correct: false } };
  ingestCommitments({
    store,
    snapshot: {
      block: 9,
      entries: [
        { hotkey: "bob", uid: 1, raw: `127.0.0.1:5000/b/x@${d("1")}`, commitBlock: 5 },
        { hotkey: "erin", uid: 2, raw: `127.0.0.1:5000/e/x@${d("2")}`, commitBlock: 6 },
        { hotkey: "zed", uid: 3, raw: "not a reference", commitBlock: 7 },
      ],
    },
  });
  const round = await runRound(
    {
      store,
      runner: createLocalJobRunner({
        pods: { a: simulatedPod("a", { images }), b: simulatedPod("b", { images }) },
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
  return { store, roundId: round?.id as string };
}

describe("publishRound", () => {
  it("writes the summary, raw job results and per-miner reports to a local folder, idempotently", async () => {
    const { store, roundId } = await settledRound();
    const dir = mkdtempSync(join(tmpdir(), "publish-"));
    const first = await publishRound({ store, sink: localFolderSink(dir), roundId });
    const again = await publishRound({ store, sink: localFolderSink(dir), roundId });
    expect(again.objects).toBe(first.objects);
    expect(first.location).toBe(`file://${dir}/rounds/${roundId}/summary.json`);
    const summary = JSON.parse(
      readFileSync(join(dir, "rounds", roundId, "summary.json"), "utf8"),
    ) as RoundSummary;
    expect(summary.schema).toBe("cacheon.round-summary.v1");
    expect(summary.standingAfter?.leader?.hotkey).toBe("bob");
    expect(summary.jobs.length).toBeGreaterThanOrEqual(2);
    expect(summary.jobs[0]?.arms.map((a) => a.role)).toEqual([
      "opening-baseline",
      "challenger",
      "challenger",
      "closing-baseline",
    ]);
    const erin = JSON.parse(readFileSync(join(dir, "miners", "erin", "latest.json"), "utf8")) as MinerReport;
    expect(erin.verdict).toBe("failed");
    expect(erin.nextSteps.length).toBeGreaterThan(0);
    const raw = JSON.parse(
      readFileSync(join(dir, "rounds", roundId, "jobs", `${store.storeId()}-${roundId}-e0-a0.json`), "utf8"),
    );
    expect(raw.result.arms).toHaveLength(4);
    expect(store.rounds.get(roundId)?.publishLocation).toBe(first.location);
    // The leaderboard beside it: versioned JSON and the page that shows it.
    const board = JSON.parse(readFileSync(join(dir, "leaderboard.json"), "utf8"));
    expect(board).toMatchObject({
      schema: "cacheon.leaderboard.v1",
      standing: { leader: { hotkey: "bob" } },
    });
    expect(board.rounds.map((r: { id: string }) => r.id)).toEqual([roundId]);
    expect(readFileSync(join(dir, "index.html"), "utf8")).toContain('id="leaderboard-data"');
  });

  it("writes the same objects to S3 (the real S3 server of the test services)", async () => {
    const { store, roundId } = await settledRound();
    const { bucket, client, s3, remove } = await createTestBucket("cacheon-publish");
    const sink = s3Sink({
      bucket,
      prefix: "validator-1",
      endpoint: s3.endpoint,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
    });
    const { location } = await publishRound({ store, sink, roundId });
    expect(location).toBe(`s3://${bucket}/validator-1/rounds/${roundId}/summary.json`);
    const got = await client.send(
      new GetObjectCommand({ Bucket: bucket, Key: `validator-1/rounds/${roundId}/summary.json` }),
    );
    const summary = JSON.parse(await (got.Body?.transformToString() ?? "")) as RoundSummary;
    expect(summary.roundId).toBe(roundId);
    const report = await client.send(
      new GetObjectCommand({ Bucket: bucket, Key: "validator-1/miners/bob/latest.json" }),
    );
    expect(JSON.parse(await (report.Body?.transformToString() ?? "")).verdict).toBe("leader");
    // A missing bucket is named with what to check.
    const missing = s3Sink({
      bucket: `${bucket}-missing`,
      endpoint: s3.endpoint,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
    });
    await expect(missing.put("x.json", "{}", "application/json")).rejects.toThrow(
      /cannot put s3:\/\/.*-missing\/x\.json.*bucket exists/,
    );
    await remove();
  });

  it("refuses keys that could escape, and unsettled rounds", async () => {
    for (const bad of ["../x", "a/../../b", "/abs", "a//b", "a b", ""])
      expect(() => checkKey(bad)).toThrow(/not a relative path/);
    const store = openStore({ path: ":memory:" });
    const r = store.rounds.insert({
      block: 1,
      blockHash: "0x01",
      seed: "01",
      state: "evaluating",
      deadlineMs: 0,
      challengers: [],
      standingBefore: {},
    });
    await expect(
      publishRound({ store, sink: localFolderSink(mkdtempSync(join(tmpdir(), "p-"))), roundId: r.id }),
    ).rejects.toThrow(/not settled/);
  });
});
