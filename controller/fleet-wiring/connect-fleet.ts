import { fromBinary } from "@bufbuild/protobuf";
import { HardwareReportSchema } from "../../shared/gen/cacheon/v1/hardware_pb.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import type { ControlPlane } from "../control-plane/control-plane.ts";
import type { ControlPlaneStore } from "../control-plane/control-plane-store.ts";
import type { Fleet, VerificationOutcome } from "../pods/fleet.ts";

/** Options of {@link connectFleet}. */
export interface ConnectFleetOptions {
  fleet: Fleet;
  controlPlane: Pick<ControlPlane, "addListener" | "retireAgent" | "connectedAgents" | "jobOutcome">;
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
    const pod = fleet.get(podId);
    // An enrolled pod adopted after a restart was never judged: its agent's report is stored.
    let agentId = pod.state === "enrolled" ? pod.agentId : undefined;
    if (pod.state === "booting") {
      agentId = controlPlane
        .connectedAgents()
        .find((a) => a.podId === podId && store.agent(a.agentId)?.status === "active")?.agentId;
      if (agentId) fleet.enrolled(podId, agentId);
    }
    if (!agentId) return;
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
  // Pods adopted after a restart: judge those waiting for it, and free those whose job ended
  // (or was cancelled) while no controller was listening.
  for (const pod of fleet.live()) {
    if (pod.state === "enrolled") judge(pod.podId);
    if (pod.state === "busy" && controlPlane.jobOutcome(pod.jobId)?.state !== "assigned")
      fleet.jobEnded(pod.podId, pod.jobId);
  }
  return () => {
    stopFleet();
    stopControlPlane();
  };
}

/** Moves a busy pod running `jobId` to idle; anything else (ended, another job) is left alone. */
export function endPodJob(fleet: Fleet, podId: string, jobId: string): void {
  const pod = fleet.get(podId);
  if (pod.state === "busy" && pod.jobId === jobId) fleet.jobEnded(podId, jobId);
}
