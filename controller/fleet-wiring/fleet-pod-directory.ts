import { fromBinary } from "@bufbuild/protobuf";
import { HardwareReportSchema } from "../../shared/gen/cacheon/v1/hardware_pb.ts";
import type { ControlPlaneStore } from "../control-plane/control-plane-store.ts";
import type { PodDirectory, PodIdentity } from "../pods/pod-identity.ts";
import type { PodLedger } from "../pods/pod-ledger.ts";

/** Options of {@link fleetPodDirectory}. */
export interface FleetPodDirectoryOptions {
  /** Enrolled agents and their hardware reports (GPU UUIDs, host name). */
  agents: Pick<ControlPlaneStore, "latestAgentOfPod">;
  /** The fleet's records (provider, host as the provider reported it); none without a fleet. */
  ledger?: Pick<PodLedger, "get">;
  /** Providers pods come from: 1 for a fleet or hand-enrolled agents alone, 2 with both. */
  providers: number;
}

/**
 * Identities of remote pods from the store: the provider and host the fleet recorded when it
 * rented the pod, and the GPU UUIDs of the hardware report its (latest) agent enrolled with. A
 * pod enrolled by hand (mint-token) is provider "manual" with the host its agent reported. Both
 * sources are in the store, so a pod's identity outlives its release.
 */
export function fleetPodDirectory(options: FleetPodDirectoryOptions): PodDirectory {
  return {
    providers: options.providers,
    identity(podId): PodIdentity | undefined {
      const record = options.ledger?.get(podId);
      const agent = options.agents.latestAgentOfPod(podId);
      if (!record && !agent) return undefined;
      const report =
        agent && agent.hardware.byteLength > 0 ? fromBinary(HardwareReportSchema, agent.hardware) : undefined;
      return {
        podId,
        provider: record?.provider ?? "manual",
        host: record?.host || report?.host?.hostname || "",
        gpuUuids: (report?.gpus ?? [])
          .map((g) => g.uuid)
          .filter((u) => u !== "")
          .sort(),
      };
    },
  };
}
