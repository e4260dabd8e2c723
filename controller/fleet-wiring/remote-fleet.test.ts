// The fleet wired to the control plane: pods rented through the `command` provider (machines are
// real processes, test/fixtures/providers/fake-cloud.ts), their agents enrol over gRPC on
// loopback with the token from the pod's user-data, a round runs on them, raw artefacts go to the
// real S3 server through pre-signed URLs and are verified, and every machine is returned.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { HardwareReportSchema } from "../../shared/gen/cacheon/v1/hardware_pb.ts";
import { createFakeCloud } from "../../test/pods/fake-cloud.ts";
import { testServices } from "../../test/support/services.ts";
import { ControlPlane } from "../control-plane/control-plane.ts";
import { startControlPlaneServer } from "../control-plane/control-plane-server.ts";
import { SqliteControlPlaneStore } from "../control-plane/control-plane-store.ts";
import { S3UploadStorage } from "../control-plane/s3-upload-storage.ts";
import { publishRoundEvidence } from "../evidence/publish-round-evidence.ts";
import { s3EvidenceStore } from "../evidence/s3-evidence-store.ts";
import { withEvidenceBundles } from "../evidence/testing/with-evidence-bundles.ts";
import { ingestCommitments } from "../intake/ingest-commitments.ts";
import { Fleet } from "../pods/fleet.ts";
import type { PodDirectory } from "../pods/pod-identity.ts";
import { openSqlitePodLedger } from "../pods/pod-ledger.ts";
import type { PodProvider } from "../pods/pod-provider.ts";
import { createControlPlaneJobRunner } from "../rounds/control-plane-job-runner.ts";
import { isIndependent } from "../rounds/is-independent.ts";
import type { JobRunner } from "../rounds/job-runner.ts";
import { runRound } from "../rounds/run-round.ts";
import { simulatedPod } from "../rounds/simulated-pod.ts";
import { fileChain, writeFileChain } from "../rounds/testing/file-chain.ts";
import {
  scenarioCommitments,
  scenarioRef,
  scenarioSettings,
  scenarioSimImages,
} from "../rounds/testing/sim-scenario.ts";
import { defaultScoringPolicy } from "../scoring/scoring-policy.ts";
import type { Standing } from "../scoring/settle-standing.ts";
import { type ControllerStore, openStore } from "../store/controller-store.ts";
import { defaultWeightPolicy } from "../weights/weight-policy.ts";
import { setWeightsIfDue } from "../weights/weight-setter.ts";
import { connectFleet } from "./connect-fleet.ts";
import { fleetJobRunner } from "./fleet-job-runner.ts";
import { fleetPodDirectory } from "./fleet-pod-directory.ts";
import { armUploads } from "./start-remote-agents.ts";
import { bootCloudAgents } from "./testing/cloud-agents.ts";

const profile = { name: "none", gpuModel: "H200", gpuCount: 8 };
const bucket = `cacheon-test-fleet-wiring-${process.pid}`;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setUp(options: {
  hardwareOk: boolean;
  createReturnsAfterEnrolment?: boolean;
  maxPods?: number;
}) {
  const { s3 } = testServices();
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  await client.send(new CreateBucketCommand({ Bucket: bucket })).catch(() => {});
  const uploads = new S3UploadStorage({ client, bucket, prefix: "t/" });
  const store = new SqliteControlPlaneStore();
  const controlPlane = new ControlPlane({
    store,
    uploads,
    heartbeatIntervalMs: 200,
    heartbeatDeadlineMs: 3000,
  });
  const server = await startControlPlaneServer({ controlPlane });
  const cloud = createFakeCloud();
  // A provider whose create call answers only after the machine's agent has connected: a cloud API
  // slower than the machine's boot (or a static machine that is already up) reverses the usual order.
  const provider: PodProvider = options.createReturnsAfterEnrolment
    ? {
        ...cloud.provider,
        name: cloud.provider.name,
        async create(request, signal) {
          const machine = await cloud.provider.create(request, signal);
          await waitFor("the agent to connect before create returns", () =>
            controlPlane.connectedAgents().some((a) => a.podId === request.podId),
          );
          return machine;
        },
      }
    : cloud.provider;
  const ledger = openSqlitePodLedger(":memory:");
  const fleet = new Fleet({
    provider,
    ledger,
    tokens: { mint: async (podId, ttl) => controlPlane.mintEnrolmentToken(podId, ttl).token },
    userData: ({ podId, enrolmentToken }) =>
      `#cloud-config\n# CACHEON_POD_ID=${podId}\n# CACHEON_ENROLMENT_TOKEN=${enrolmentToken}\n`,
    budget: { maxPods: options.maxPods ?? 2 },
    onTransition: ({ podId, to }) => {
      const agentId = fleet.get(podId).agentId;
      if ((to === "released" || to === "failed") && agentId) controlPlane.retireAgent(agentId);
    },
  });
  const disconnect = connectFleet({ fleet, controlPlane, store });
  // Each machine "boots": its agent enrols with the token from its user-data, as cloud-init would.
  const agents = bootCloudAgents({
    cloudDir: cloud.dir,
    url: server.url,
    executor: (podId) => withEvidenceBundles(simulatedPod(podId, { images: scenarioSimImages })),
    hardware: (podId) =>
      create(HardwareReportSchema, {
        profile: "h200x8",
        ok: options.hardwareOk,
        gpus: [{ index: 0, uuid: `GPU-${podId}` }],
        failures: options.hardwareOk
          ? []
          : [{ rule: "gpu-count", subject: "host", detail: "2 GPUs, expected 8" }],
      }),
  });
  cleanups.push(async () => {
    agents.stop();
    await fleet.shutdown("test over");
    disconnect();
    await server.close();
    store.close();
    ledger.close();
    cloud.dispose();
  });
  const directory = fleetPodDirectory({ agents: store, ledger, providers: 1 });
  /** The runner serve builds: the control plane runner (uploads to S3) with the fleet behind it. */
  const runnerOf = (extra: { replaceIdleAfterMs?: number } = {}) => {
    const inner = createControlPlaneJobRunner(controlPlane, {
      uploads: (job) => armUploads(job, 1 << 20),
      directory,
      independent: isIndependent,
    });
    cleanups.push(() => inner.close());
    return {
      inner,
      runner: fleetJobRunner({
        runner: inner,
        fleet,
        profile,
        directory,
        independent: isIndependent,
        ...extra,
      }),
    };
  };
  return { client, controlPlane, fleet, cloud, uploads, ledger, runnerOf, directory };
}

/** One round of the scenario settings on `runner`, judging pods by the directory the runner uses (as serve does). */
const roundOn = (store: ControllerStore, runner: JobRunner, pods: PodDirectory) =>
  runRound(
    {
      store,
      runner,
      pods,
      settings: scenarioSettings,
      policy: defaultScoringPolicy,
      finalizedHead: async () => ({ block: 60, hash: "0x0606" }),
      pollMs: 20,
    },
    new AbortController().signal,
  );

const waitFor = async (what: string, check: () => boolean, ms = 20_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe("remote mode with a fleet", () => {
  it("rents pods when jobs wait, runs the round on their agents, verifies uploaded artefacts, refuses a tampered one, and returns every machine", async () => {
    const { client, controlPlane, fleet, cloud, uploads, runnerOf, directory } = await setUp({
      hardwareOk: true,
    });
    const { inner, runner } = runnerOf();
    expect(runner.allPods()).toEqual([]);
    const store = openStore({ path: ":memory:" });
    ingestCommitments({ store, snapshot: { block: 50, entries: scenarioCommitments } });
    const round = await roundOn(store, runner, directory);
    const jobs = store.jobs.list(round?.id ?? "").filter((j) => j.state === "done");
    expect(jobs.length).toBeGreaterThan(0);
    // Every job ran on a pod the fleet rented; at most maxPods were rented.
    const rented = fleet.pods().map((p) => p.podId);
    expect(rented.length).toBeLessThanOrEqual(2);
    for (const j of jobs) expect(rented).toContain(j.podId);
    const checks = jobs.flatMap((j) => inner.artefacts(j.id));
    expect(checks.length).toBeGreaterThan(0);
    expect(checks.filter((c) => !c.verified)).toEqual([]);
    expect(checks.some((c) => c.name.endsWith("/metrics.jsonl"))).toBe(true);
    // Each arm's evidence bundle came through a granted URL, and what the controller kept is the
    // bundle the agent named in its result: publication finds every one.
    expect(checks.filter((c) => c.name.endsWith("/evidence.json")).length).toBe(
      jobs.flatMap((j) => store.armResults.list(j.id)).length,
    );
    const evidence = s3EvidenceStore({ client, bucket, prefix: "t/" });
    const sink = { put: async () => {}, locate: (key: string) => key };
    await publishRoundEvidence({ store, sink, roundId: round?.id ?? "", evidence });
    const bundles = store.evidence.list(jobs.map((j) => j.id));
    expect(bundles.length).toBe(jobs.flatMap((j) => store.armResults.list(j.id)).length);
    expect(bundles.filter((b) => !b.publishedKey)).toEqual([]);

    // Each artefact was checked once, and lives where no upload URL points: bytes PUT to its
    // upload key afterwards (a replay) change nothing verified.
    expect(controlPlane.stats.artefactsChecked).toBe(checks.length);
    const first = checks[0];
    if (!first) throw new Error("no artefact");
    const key = first.location.replace(`s3://${bucket}/`, "");
    expect(key).toBe(uploads.key(first.jobId, first.name));
    const text = async (k: string) =>
      (await client.send(new GetObjectCommand({ Bucket: bucket, Key: k }))).Body?.transformToString();
    const verified = await text(key);
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: uploads.uploadKey(first.jobId, first.name),
        Body: "tampered",
      }),
    );
    expect(await text(key)).toBe(verified);

    await fleet.shutdown("round over");
    expect(fleet.live()).toEqual([]);
    expect(await cloud.provider.list()).toEqual([]);
    expect(cloud.machines()).toEqual([]);
  }, 120_000);

  it("releases a pod whose agent reports hardware that fails the profile, and retires the agent", async () => {
    const { controlPlane, fleet, cloud } = await setUp({ hardwareOk: false });
    const pod = await fleet.request(profile);
    await waitFor("the hardware verdict", () => fleet.get(pod.podId).state === "failed");
    expect(fleet.get(pod.podId).endReason).toMatch(
      /hardware verification failed: gpu-count \(host\): 2 GPUs/,
    );
    await waitFor("the machine to be returned", () => fleet.get(pod.podId).returned);
    expect(await cloud.provider.list()).toEqual([]);
    await waitFor("the retired agent's session to end", () => controlPlane.connectedAgents().length === 0);
  }, 60_000);

  it("judges the hardware of an agent that connected before the provider's create call returned", async () => {
    const { controlPlane, fleet, cloud } = await setUp({
      hardwareOk: false,
      createReturnsAfterEnrolment: true,
    });
    const pod = await fleet.request(profile);
    await waitFor("the hardware verdict", () => fleet.get(pod.podId).state === "failed");
    expect(fleet.get(pod.podId).endReason).toMatch(/hardware verification failed: gpu-count/);
    await waitFor("the machine to be returned", () => fleet.get(pod.podId).returned);
    expect(await cloud.provider.list()).toEqual([]);
    await waitFor("the retired agent's session to end", () => controlPlane.connectedAgents().length === 0);
  }, 60_000);

  // The stall of issue 17: a challenger evaluated on pod A must be reproduced on another pod while
  // A sits idle. The fleet used to rent only when no pod was idle, so the reproduction was
  // abandoned round after round and nobody was ever paid.
  for (const { maxPods, how } of [
    { maxPods: 2, how: "rents a second pod within the budget" },
    { maxPods: 1, how: "returns the idle pod and rents another at a budget of one" },
  ]) {
    it(`reproduces a win on another pod while the first sits idle: the fleet ${how}, and the challenger is paid`, async () => {
      const { fleet, cloud, runnerOf, directory } = await setUp({ hardwareOk: true, maxPods });
      const { runner } = runnerOf({ replaceIdleAfterMs: 0 });
      const store = openStore({ path: ":memory:" });
      const carol = { hotkey: "carol", uid: 2, raw: scenarioRef("faster"), commitBlock: 11 };
      ingestCommitments({ store, snapshot: { block: 50, entries: [carol] } });
      const round = await roundOn(store, runner, directory);
      const jobs = store.jobs.list(round?.id ?? "");
      expect(jobs.filter((j) => j.state === "abandoned")).toEqual([]);
      const evaluation = jobs.find((j) => j.phase === "evaluate" && j.state === "done");
      const reproduction = jobs.find((j) => j.phase === "reproduce" && j.state === "done");
      if (!evaluation?.podId || !reproduction?.podId) throw new Error("no evaluation and reproduction done");
      expect(reproduction.excludedPods).toEqual([evaluation.podId]);
      // Two pods in all: the first, and the one rented for the reproduction while the first was idle.
      expect(fleet.pods().map((p) => p.podId)).toEqual([evaluation.podId, reproduction.podId]);
      if (maxPods === 1) {
        expect(fleet.get(evaluation.podId)).toMatchObject({ state: "released" });
        expect(fleet.get(evaluation.podId).endReason).toMatch(/^replaced: at the budget of 1 pod/);
      }
      expect(store.standings.current<Standing>().leader?.hotkey).toBe("carol");
      // Paid: the weights set after the round give carol's uid the leader's share.
      const chain = fileChain(writeFileChain(mkdtempSync(join(tmpdir(), "fleet-repro-")), [carol]));
      const set = await setWeightsIfDue({
        store,
        target: chain.target,
        policy: defaultWeightPolicy,
        cadence: { refreshBlocks: 100_000, rateLimitBlocks: 0, inFlightBlocks: 2 },
      });
      expect(set.action).toBe("set");
      const accepted = chain.read().accepted.at(-1);
      expect(accepted?.uids).toContain(2);
      expect(accepted?.weights[accepted.uids.indexOf(2)]).toBe(65535);
      await fleet.shutdown("test over");
      expect(await cloud.provider.list()).toEqual([]);
    }, 120_000);
  }
});
