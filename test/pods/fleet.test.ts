import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { Fleet, type FleetOptions, type RescheduleEvent } from "../../controller/pods/fleet.ts";
import { openSqlitePodLedger, type PodLedger, type PodRecord } from "../../controller/pods/pod-ledger.ts";
import { createFakeCloud, type FakeCloud } from "./fake-cloud.ts";

const profile = { name: "h200x8", gpuModel: "H200", gpuCount: 8 };
const minute = 60_000;

interface Scenario {
  fleet: Fleet;
  cloud: FakeCloud;
  ledger: PodLedger;
  clock: { now: number };
  rescheduled: RescheduleEvent[];
  minted: Map<string, string>;
}

describe("fleet with the command provider (machines are real processes)", () => {
  const scenarios: Scenario[] = [];
  const scenario = (options: Partial<FleetOptions> & { env?: Record<string, string> } = {}): Scenario => {
    const cloud = createFakeCloud({ env: options.env ?? {} });
    const ledger = openSqlitePodLedger(":memory:");
    const clock = { now: 1_750_000_000_000 };
    const rescheduled: RescheduleEvent[] = [];
    const minted = new Map<string, string>();
    const fleet = new Fleet({
      provider: cloud.provider,
      ledger,
      tokens: {
        async mint(podId) {
          const token = randomBytes(24).toString("base64url");
          minted.set(podId, token);
          return token;
        },
      },
      userData: ({ podId, enrolmentToken }) => `#cloud-config\n# pod ${podId} token ${enrolmentToken}\n`,
      budget: { maxPods: 3, maxPricePerHour: 30, maxIdleMs: 10 * minute, maxLifetimeMs: 6 * 60 * minute },
      timeouts: { bootMs: 20 * minute, verifyMs: 5 * minute, jobMs: 60 * minute, provisionMs: 5 * minute },
      onReschedule: (event) => rescheduled.push(event),
      now: () => clock.now,
      ...options,
    });
    const s = { fleet, cloud, ledger, clock, rescheduled, minted };
    scenarios.push(s);
    return s;
  };

  // The guarantee that matters most: after every scenario, nothing is left running or billing.
  afterEach(async () => {
    for (const s of scenarios.splice(0)) {
      await s.fleet.shutdown("test over");
      const listed = await s.cloud.provider.list();
      const running = s.cloud.machines();
      s.cloud.dispose();
      s.ledger.close();
      expect(listed, "the command provider's list after the scenario").toEqual([]);
      expect(running, "machine processes after the scenario").toEqual([]);
    }
  });

  it("rents a pod that boots, enrols, verifies, runs a job, goes idle and is released when idle too long; its cost is recorded", async () => {
    const s = scenario();
    const pod = await s.fleet.request(profile);
    expect(pod.state).toBe("booting");
    expect(s.cloud.userData(pod.providerPodId)).toContain(`token ${s.minted.get(pod.podId)}`);
    expect(s.fleet.checkToken(pod.podId, s.minted.get(pod.podId) ?? "")).toBe(true);
    expect(s.fleet.checkToken(pod.podId, "forged")).toBe(false);

    s.clock.now += 5 * minute;
    s.fleet.enrolled(pod.podId, "agent-1");
    await s.fleet.verified(pod.podId, { ok: true, failures: [] });
    s.fleet.assign(pod.podId, "job-1");
    s.clock.now += 30 * minute;
    await s.fleet.tick();
    expect(s.fleet.get(pod.podId).state).toBe("busy");
    s.fleet.jobEnded(pod.podId, "job-1");
    s.clock.now += 9 * minute;
    await s.fleet.tick();
    expect(s.fleet.get(pod.podId).state).toBe("idle");
    s.clock.now += 2 * minute;
    await s.fleet.tick();
    expect(s.fleet.get(pod.podId)).toMatchObject({
      state: "released",
      returned: true,
      endReason: /idle for more than/,
    });
    expect(await s.cloud.provider.list()).toEqual([]);

    const record = s.ledger.get(pod.podId);
    // 46 minutes at USD 25/h from the provider's answer to the return.
    expect(record).toMatchObject({ state: "released", pricePerHour: 25, failure: "" });
    expect(record?.costUsd).toBeCloseTo((25 * 46) / 60, 6);
    expect(s.ledger.transitions(pod.podId).map((t) => t.to)).toEqual([
      "booting",
      "enrolled",
      "verified",
      "busy",
      "idle",
      "released",
    ]);
    expect(s.rescheduled).toEqual([]);
  });

  it("releases a pod that never boots and notes its host", async () => {
    const s = scenario();
    const pod = await s.fleet.request(profile);
    s.clock.now += 19 * minute;
    await s.fleet.tick();
    expect(s.fleet.get(pod.podId).state).toBe("booting");
    s.clock.now += 2 * minute;
    await s.fleet.tick();
    expect(s.fleet.get(pod.podId)).toMatchObject({
      state: "failed",
      returned: true,
      endReason: /never booted/,
    });
    expect(s.cloud.machines()).toEqual([]);
    expect(s.ledger.hostNotes()).toEqual([
      expect.objectContaining({ host: pod.host, podId: pod.podId, provider: "command:fake-cloud" }),
    ]);
    expect(s.ledger.get(pod.podId)?.failure).toMatch(/never booted: no enrolment within 1200000 ms/);
  });

  it("releases a pod that fails hardware verification, noting provider and host", async () => {
    const s = scenario();
    const pod = await s.fleet.request(profile);
    s.fleet.enrolled(pod.podId, "agent-1");
    const after = await s.fleet.verified(pod.podId, {
      ok: false,
      failures: ["gpu-count: 7 GPUs, expected 8"],
    });
    expect(after).toMatchObject({ state: "failed", returned: true });
    expect(await s.cloud.provider.list()).toEqual([]);
    expect(s.ledger.hostNotes()).toEqual([
      expect.objectContaining({
        provider: "command:fake-cloud",
        host: pod.host,
        reason: "hardware verification failed: gpu-count: 7 GPUs, expected 8",
      }),
    ]);
  });

  it("fails a pod whose hardware report never comes", async () => {
    const s = scenario();
    const pod = await s.fleet.request(profile);
    s.fleet.enrolled(pod.podId, "agent-1");
    s.clock.now += 6 * minute;
    await s.fleet.tick();
    expect(s.fleet.get(pod.podId)).toMatchObject({ state: "failed", endReason: /no hardware report within/ });
  });

  it("fails a pod that disappears mid-job and hands its job back to the scheduler", async () => {
    const s = scenario();
    const pod = await s.fleet.request(profile);
    const other = await s.fleet.request(profile);
    for (const p of [pod, other]) {
      s.fleet.enrolled(p.podId, `agent-${p.podId}`);
      await s.fleet.verified(p.podId, { ok: true, failures: [] });
    }
    s.fleet.assign(pod.podId, "job-7");
    s.cloud.vanish(pod.providerPodId);
    await s.fleet.tick();
    expect(s.fleet.get(pod.podId)).toMatchObject({ state: "failed", jobId: "", endReason: /disappeared/ });
    expect(s.rescheduled).toEqual([
      { jobId: "job-7", podId: pod.podId, reason: expect.stringMatching(/disappeared/) },
    ]);
    expect(s.fleet.get(other.podId).state).toBe("verified");
    // A late report from the control plane about the gone agent changes nothing.
    expect((await s.fleet.lost(pod.podId, "session dropped")).endReason).toMatch(/disappeared/);
    expect(s.rescheduled).toHaveLength(1);
  });

  it("fails a pod whose agent goes silent mid-job and reschedules the job", async () => {
    const s = scenario();
    const pod = await s.fleet.request(profile);
    s.fleet.enrolled(pod.podId, "agent-1");
    await s.fleet.verified(pod.podId, { ok: true, failures: [] });
    s.fleet.assign(pod.podId, "job-9");
    await s.fleet.lost(pod.podId, "no heartbeat for 30000 ms");
    expect(s.rescheduled).toEqual([
      { jobId: "job-9", podId: pod.podId, reason: "no heartbeat for 30000 ms" },
    ]);
    expect(s.cloud.machines()).toEqual([]);
  });

  it("fails a job that runs past its timeout and reschedules it", async () => {
    const s = scenario();
    const pod = await s.fleet.request(profile);
    s.fleet.enrolled(pod.podId, "agent-1");
    await s.fleet.verified(pod.podId, { ok: true, failures: [] });
    s.fleet.assign(pod.podId, "job-long");
    s.clock.now += 61 * minute;
    await s.fleet.tick();
    expect(s.rescheduled.map((e) => e.jobId)).toEqual(["job-long"]);
  });

  it("records a boot failure the pod reported, notes the host, and returns the machine", async () => {
    const s = scenario();
    const pod = await s.fleet.request(profile);
    await s.fleet.bootFailed(pod.podId, "bundle", "sha256 mismatch");
    expect(s.fleet.get(pod.podId)).toMatchObject({
      state: "failed",
      endReason: "boot failed at bundle: sha256 mismatch",
    });
    expect(s.ledger.hostNotes()[0]?.reason).toBe("boot failed at bundle: sha256 mismatch");
  });

  it("refuses a pod over maxPods, and releases pods that reach the maximum lifetime even when busy", async () => {
    const s = scenario({
      budget: { maxPods: 2, maxPricePerHour: 30, maxLifetimeMs: 60 * minute, maxIdleMs: 60 * minute },
    });
    const a = await s.fleet.request(profile);
    const b = await s.fleet.request(profile);
    await expect(s.fleet.request(profile)).rejects.toMatchObject({ code: "resource-exhausted" });
    expect(s.cloud.machines()).toHaveLength(2);
    s.fleet.enrolled(a.podId, "agent-a");
    await s.fleet.verified(a.podId, { ok: true, failures: [] });
    s.fleet.assign(a.podId, "job-a");
    s.clock.now += 61 * minute;
    await s.fleet.tick();
    expect(s.fleet.get(a.podId)).toMatchObject({ state: "released", endReason: /maximum lifetime/ });
    expect(s.fleet.get(b.podId).state).toBe("released");
    expect(s.rescheduled.map((e) => e.jobId)).toEqual(["job-a"]);
    // Room again after the releases.
    expect((await s.fleet.request(profile)).state).toBe("booting");
  });

  it("returns a machine quoted over maxPricePerHour at once", async () => {
    const s = scenario({ env: { FAKE_CLOUD_PRICE: "31.5" } });
    await expect(s.fleet.request(profile)).rejects.toThrow(/costs USD 31.5\/h, over the limit of USD 30\/h/);
    expect(s.fleet.pods()).toEqual([expect.objectContaining({ state: "failed", returned: true })]);
    expect(s.cloud.machines()).toEqual([]);
  });

  it("marks a pod failed when the provider cannot create it", async () => {
    const s = scenario({ env: { FAKE_CLOUD_FAULT: "create:exit" } });
    await expect(s.fleet.request(profile)).rejects.toThrow(/quota exceeded/);
    expect(s.ledger.list()).toEqual([
      expect.objectContaining({ state: "failed", failure: expect.stringMatching(/quota exceeded/) }),
    ]);
  });

  it("throws on an illegal event: a job on a pod not yet verified, a job ending that is not its own", async () => {
    const s = scenario();
    const pod = await s.fleet.request(profile);
    expect(() => s.fleet.assign(pod.podId, "job-1")).toThrow(/cannot move from booting to busy/);
    s.fleet.enrolled(pod.podId, "agent-1");
    await s.fleet.verified(pod.podId, { ok: true, failures: [] });
    s.fleet.assign(pod.podId, "job-1");
    expect(() => s.fleet.jobEnded(pod.podId, "job-2")).toThrow(/runs job "job-1", not "job-2"/);
    expect(() => s.fleet.enrolled("cacheon-nope", "a")).toThrow(/no pod "cacheon-nope"/);
  });

  it("keeps retrying a return the provider refused until it succeeds", async () => {
    const s = scenario();
    const pod = await s.fleet.request(profile);
    const healthy = s.cloud.provider.release;
    s.cloud.provider.release = async () => {
      throw new Error("API down");
    };
    await s.fleet.release(pod.podId, "not needed");
    expect(s.fleet.get(pod.podId)).toMatchObject({ state: "released", returned: false });
    expect(s.cloud.machines()).toHaveLength(1);
    expect(s.ledger.get(pod.podId)?.costUsd).toBe(0);
    s.cloud.provider.release = healthy;
    s.clock.now += 30 * minute;
    await s.fleet.tick();
    expect(s.fleet.get(pod.podId).returned).toBe(true);
    expect(s.ledger.get(pod.podId)?.costUsd).toBeCloseTo(12.5, 6);
  });

  it("returns a machine tagged with a pod id the fleet does not hold (left over by an earlier run)", async () => {
    const s = scenario();
    await s.cloud.provider.create({ podId: "cacheon-stale-1", profile, maxPricePerHour: 30, userData: "" });
    await s.cloud.provider.create({ podId: "someone-elses", profile, maxPricePerHour: 30, userData: "" });
    await s.fleet.tick();
    expect((await s.cloud.provider.list()).map((m) => m.podId)).toEqual(["someone-elses"]);
    const other = (await s.cloud.provider.list())[0];
    if (other) await s.cloud.provider.release(other.id);
  });

  it("releases every pod on shutdown and reschedules running jobs", async () => {
    const s = scenario();
    const a = await s.fleet.request(profile);
    await s.fleet.request(profile);
    s.fleet.enrolled(a.podId, "agent-a");
    await s.fleet.verified(a.podId, { ok: true, failures: [] });
    s.fleet.assign(a.podId, "job-a");
    await s.fleet.shutdown("controller stopping");
    expect(s.fleet.live()).toEqual([]);
    expect(s.cloud.machines()).toEqual([]);
    expect(s.rescheduled.map((e) => e.jobId)).toEqual(["job-a"]);
  });

  /** The same fleet started again by a new controller process: a new Fleet over the same ledger and cloud. */
  const restart = (s: Scenario) => {
    const rescheduled: RescheduleEvent[] = [];
    const fleet = new Fleet({
      provider: s.cloud.provider,
      ledger: s.ledger,
      tokens: { mint: async () => "unused" },
      userData: () => "",
      budget: { maxPods: 3, maxPricePerHour: 30, maxIdleMs: 10 * minute, maxLifetimeMs: 6 * 60 * minute },
      timeouts: { bootMs: 20 * minute, verifyMs: 5 * minute, jobMs: 60 * minute, provisionMs: 5 * minute },
      onReschedule: (event) => rescheduled.push(event),
      now: () => s.clock.now,
    });
    // afterEach shuts down the fleet that now holds the pods.
    s.fleet = fleet;
    return { fleet, rescheduled };
  };

  it("after a restart adopts its pods with their state, agent, job, token and clocks: nothing rented, nothing returned", async () => {
    const s = scenario();
    const busy = await s.fleet.request(profile);
    const booting = await s.fleet.request(profile);
    s.fleet.enrolled(busy.podId, "agent-1");
    await s.fleet.verified(busy.podId, { ok: true, failures: [] });
    s.clock.now += minute;
    s.fleet.assign(busy.podId, "job-1");
    const before = s.fleet.get(busy.podId);

    const { fleet, rescheduled } = restart(s);
    const adopted = await fleet.adopt();
    // Both were requested at the same instant: order does not matter.
    expect(Object.fromEntries(adopted.map((p) => [p.podId, p.state]))).toEqual({
      [busy.podId]: "busy",
      [booting.podId]: "booting",
    });
    expect(fleet.get(busy.podId)).toEqual(before);
    expect(fleet.checkToken(booting.podId, s.minted.get(booting.podId) ?? "")).toBe(true);
    expect(s.cloud.machines()).toHaveLength(2);
    expect(rescheduled).toEqual([]);
    // Its clocks went on counting across the restart: an hour after the job started, it is over time.
    s.clock.now += 60 * minute + 1;
    await fleet.tick();
    expect(fleet.get(busy.podId)).toMatchObject({ state: "failed", endReason: /job job-1 ran longer than/ });
    expect(rescheduled.map((e) => e.jobId)).toEqual(["job-1"]);
  });

  it("after a restart fails pods whose machine vanished meanwhile, matches a pod whose create call was cut short to its tagged machine, and returns strays", async () => {
    const s = scenario();
    const gone = await s.fleet.request(profile);
    s.fleet.enrolled(gone.podId, "agent-1");
    await s.fleet.verified(gone.podId, { ok: true, failures: [] });
    s.fleet.assign(gone.podId, "job-9");
    s.cloud.vanish(gone.providerPodId);
    // Two create calls cut short by the crash: the provider made a machine for one of them.
    const orphan = {
      ...(s.ledger.get(gone.podId) as PodRecord),
      providerPodId: "",
      host: "",
      state: "requested" as const,
    };
    const lease = {
      profile,
      stateSinceMs: s.clock.now,
      agentId: "",
      jobId: "",
      endReason: "",
      returned: false,
      tokenHash: "",
    };
    for (const podId of ["cacheon-orphan-made", "cacheon-orphan-lost"]) {
      s.ledger.put({ ...orphan, podId });
      s.ledger.putLease({ ...lease, podId });
    }
    const made = await s.cloud.provider.create({
      podId: "cacheon-orphan-made",
      profile,
      maxPricePerHour: 30,
      userData: "",
    });
    await s.cloud.provider.create({ podId: "cacheon-stray-1", profile, maxPricePerHour: 30, userData: "" });

    const { fleet, rescheduled } = restart(s);
    const adopted = await fleet.adopt();
    expect(adopted.map((p) => [p.podId, p.state, p.providerPodId])).toEqual([
      ["cacheon-orphan-made", "booting", made.id],
    ]);
    expect(fleet.get(gone.podId)).toMatchObject({ state: "failed", endReason: /disappeared/ });
    expect(rescheduled.map((e) => e.jobId)).toEqual(["job-9"]);
    expect(fleet.get("cacheon-orphan-lost")).toMatchObject({
      state: "failed",
      endReason: /stopped while the provider was creating it/,
    });
    expect((await s.cloud.provider.list()).map((m) => m.podId)).toEqual(["cacheon-orphan-made"]);
  });
});
