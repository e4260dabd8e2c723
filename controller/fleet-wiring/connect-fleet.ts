import { fromBinary } from "@bufbuild/protobuf";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { HardwareReportSchema } from "../../shared/gen/cacheon/v1/hardware_pb.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import type { ControlPlane } from "../control-plane/control-plane.ts";
import type { ControlPlaneStore } from "../control-plane/control-plane-store.ts";
import type { Fleet, VerificationOutcome } from "../pods/fleet.ts";
import type { PodProfile } from "../pods/pod-provider.ts";
import type { JobRunner } from "../rounds/job-runner.ts";

/** Options of {@link connectFleet}. */
export interface ConnectFleetOptions {
  fleet: Fleet;
  controlPlane: Pick<ControlPlane, "addListener" | "retireAgent" | "connectedAgents">;
  /** Where enrolled agents (pod id, hardware report) are stored. */
  store: Pick<ControlPlaneStore, "agent">;
  /** @default silentLogger */
  logger?: Logger;
}

/** Reduces an agent's stored hardware report to what the fleet decides on. */
export function verificationOf(hardware: Uint8Array): VerificationOutcome {
  if (hardware.byteLength === 0)
    return { ok: false, failures: ["the agent enrolled without a hardware report"] };
  const report = fromBinary(HardwareReportSchema, hardware);
  const failures = report.failures.map((f) => `${f.rule} (${f.subject}): ${f.detail}`);
  // An agent told to accept a replayed nvidia-smi (tests, demos) proved nothing about its GPUs.
  if (report.fingerprint?.nvidiaSmiReplay) {
    failures.push(
      "nvidia-smi-replay (host): the agent ran with CACHEON_ALLOW_NVIDIA_SMI_REPLAY, so its nvidia-smi may be a replay of someone else's GPUs",
    );
  }
  return { ok: report.ok && failures.length === 0, failures };
}

/**
 * Feeds the control plane's events to the fleet: an agent of a fleet pod that connects is
 * enrolled and judged on its hardware report (a failing pod is released and its agent retired);
 * a lost agent fails its pod; a finished, failed or handed-back job leaves its pod idle. Agents
 * of pods the fleet does not hold (tokens from `mint-token`) are left alone. Returns a function
 * that disconnects.
 *
 * Judging is level-triggered: it runs when the agent connects AND when the pod starts booting,
 * and acts when both hold. An agent can connect before the provider's create call has answered
 * (a slow cloud API, a machine that was already up); its pod is still "requested" then, and
 * reacting to the session alone would leave the pod waiting for a verdict that never comes.
 */
export function connectFleet(options: ConnectFleetOptions): () => void {
  const { fleet, controlPlane, store } = options;
  const logger = options.logger ?? silentLogger;
  const held = (podId: string | undefined) =>
    podId !== undefined && fleet.pods().some((p) => p.podId === podId) ? podId : undefined;
  const podOf = (agentId: string) => held(store.agent(agentId)?.podId);
  const failed = (what: string) => (error: unknown) =>
    logger.error(`fleet could not record ${what}`, { error });
  const endJob = (agentId: string, jobId: string) => {
    const podId = podOf(agentId);
    if (podId) endPodJob(fleet, podId, jobId);
  };
  const judge = (podId: string) => {
    if (fleet.get(podId).state !== "booting") return;
    const agentId = controlPlane
      .connectedAgents()
      .find((a) => a.podId === podId && store.agent(a.agentId)?.status === "active")?.agentId;
    if (!agentId) return;
    fleet.enrolled(podId, agentId);
    const outcome = verificationOf(store.agent(agentId)?.hardware ?? new Uint8Array());
    fleet.verified(podId, outcome).then((pod) => {
      if (pod.state === "failed") controlPlane.retireAgent(agentId);
    }, failed("a hardware verdict"));
  };
  const stopFleet = fleet.addListener(({ podId, to }) => {
    if (to === "booting") judge(podId);
  });
  const stopControlPlane = controlPlane.addListener({
    sessionChanged(agentId, connected) {
      const podId = connected ? podOf(agentId) : undefined;
      if (podId) judge(podId);
    },
    agentLost(agentId) {
      const podId = podOf(agentId);
      if (podId) fleet.lost(podId, `agent ${agentId} went silent`).catch(failed("a lost agent"));
    },
    jobFinished: (agentId, result) => endJob(agentId, result.jobId),
    jobFailed: (agentId, failure) => endJob(agentId, failure.jobId),
    jobsReturned(agentId, jobIds) {
      for (const jobId of jobIds) endJob(agentId, jobId);
    },
  });
  return () => {
    stopFleet();
    stopControlPlane();
  };
}

/** Moves a busy pod running `jobId` to idle; anything else (ended, another job) is left alone. */
function endPodJob(fleet: Fleet, podId: string, jobId: string): void {
  const pod = fleet.get(podId);
  if (pod.state === "busy" && pod.jobId === jobId) fleet.jobEnded(podId, jobId);
}

/** Options of {@link fleetJobRunner}. */
export interface FleetJobRunnerOptions {
  /** Runs jobs on connected agents (createControlPlaneJobRunner). */
  runner: JobRunner;
  fleet: Fleet;
  /** Hardware rented when jobs wait. */
  profile: PodProfile;
  /** @default silentLogger */
  logger?: Logger;
}

/**
 * The control plane runner with the fleet behind it: a fleet pod takes jobs only once verified
 * (or idle), jobs mark it busy, and when the round asks for an idle pod and none is there nor on
 * its way, one more is rented within the fleet's budget. Pods being rented count as known, so a
 * job waiting for "another pod" (reproduction) waits for it instead of being abandoned.
 */
export function fleetJobRunner(options: FleetJobRunnerOptions): JobRunner {
  const { runner, fleet, profile } = options;
  const logger = options.logger ?? silentLogger;
  const usable = (podId: string) => {
    const pod = fleet.pods().find((p) => p.podId === podId);
    return !pod || pod.state === "verified" || pod.state === "idle";
  };
  const rentIfNeeded = () => {
    const live = fleet.live();
    const coming = live.filter((p) => ["requested", "booting", "enrolled"].includes(p.state));
    if (coming.length > 0 || live.length >= fleet.limits.maxPods) return;
    fleet.request(profile).catch((error: unknown) =>
      logger.warn("could not rent a pod; the round waits and asks again", {
        error: CacheonError.from(error).message,
      }),
    );
  };
  return {
    idlePods() {
      const idle = runner.idlePods().filter(usable);
      if (idle.length === 0) rentIfNeeded();
      return idle;
    },
    allPods: () => [...new Set([...runner.allPods(), ...fleet.live().map((p) => p.podId)])],
    async run(podId, job, signal) {
      const inFleet = fleet.pods().some((p) => p.podId === podId);
      if (inFleet) fleet.assign(podId, job.jobId);
      try {
        return await runner.run(podId, job, signal);
      } finally {
        if (inFleet) endPodJob(fleet, podId, job.jobId);
      }
    },
  };
}
