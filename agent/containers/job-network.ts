import { randomBytes } from "node:crypto";
import type Docker from "dockerode";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import { containerLabels } from "./arm-container-spec.ts";
import { dockerError } from "./docker-error.ts";
import { guardHostFromBridge, type HostGuard } from "./host-firewall.ts";

/** A per-job Docker network. */
export interface JobNetwork {
  /** Network name, for HostConfig.NetworkMode. */
  name: string;
  /** Engine id. */
  id: string;
  /** Name of the bridge interface on the host. */
  bridge: string;
  /** True when new connections from the network to the host itself are dropped (see guardHostFromBridge). */
  hostGuarded: boolean;
  /** Removes the network and its firewall rule; never throws (logs instead). */
  remove(): Promise<void>;
}

/**
 * Creates an internal bridge network for one job: containers on it reach each other and the host
 * reaches them at their addresses, but there is no route out (no default gateway, no NAT).
 */
export async function createJobNetwork(options: {
  docker: Docker;
  jobId: string;
  /** Identity of the agent (see PodJobOptions.owner): labelled on the network, named in the firewall rule. */
  owner: string;
  labels?: Record<string, string>;
  /**
   * Also drop new connections from the network to the host's own addresses, which
   * `Internal: true` alone lets through. "required" fails when the rule cannot be added (not
   * root, no iptables); "best-effort" logs a warning and goes on. @default "required"
   */
  hostGuard?: "required" | "best-effort" | "off";
  logger?: Logger;
}): Promise<JobNetwork> {
  const logger = options.logger ?? silentLogger;
  const suffix = randomBytes(3).toString("hex");
  const name = `cacheon-${safeName(options.jobId)}-${suffix}`;
  const bridge = `cacheon-${suffix}`;
  let network: Docker.Network;
  try {
    network = await options.docker.createNetwork({
      Name: name,
      Driver: "bridge",
      Internal: true,
      CheckDuplicate: true,
      Options: { "com.docker.network.bridge.name": bridge },
      Labels: {
        ...options.labels,
        [containerLabels.managed]: "true",
        [containerLabels.job]: options.jobId,
        [containerLabels.agent]: options.owner,
      },
    });
  } catch (error) {
    throw dockerError(error, `creating the internal network ${name}`);
  }
  let guard: HostGuard | undefined;
  const mode = options.hostGuard ?? "required";
  if (mode !== "off") {
    try {
      guard = await guardHostFromBridge(bridge, options.owner);
    } catch (error) {
      if (mode === "required") {
        await network.remove().catch(() => {});
        throw error;
      }
      logger.warn("arms on this job's network can reach services on the host's own addresses", {
        error: error as Error,
      });
    }
  }
  return {
    name,
    id: network.id,
    bridge,
    hostGuarded: guard !== undefined,
    async remove() {
      await guard?.remove();
      try {
        await network.remove();
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode !== 404) {
          logger.warn("could not remove the job network", { network: name, error: error as Error });
        }
      }
    },
  };
}

/** A string reduced to what Docker allows in names. */
export function safeName(text: string): string {
  const cleaned = text.replace(/[^a-zA-Z0-9_.-]/g, "-").slice(0, 40);
  return cleaned === "" ? "x" : cleaned;
}

/**
 * Removes every container and network labelled with the job, or with the agent's identity (its
 * `owner`): leftovers of a crashed agent must not hold GPUs or names, and other agents sharing the
 * engine keep theirs. Returns counts.
 */
export async function removeJobObjects(
  options: { docker: Docker; logger?: Logger } & ({ jobId: string } | { owner: string }),
): Promise<{ containers: number; networks: number }> {
  const label =
    "jobId" in options
      ? `${containerLabels.job}=${options.jobId}`
      : `${containerLabels.agent}=${options.owner}`;
  const filters = JSON.stringify({ label: [label] });
  let containers = 0;
  let networks = 0;
  for (const info of await options.docker.listContainers({ all: true, filters })) {
    await options.docker
      .getContainer(info.Id)
      .remove({ force: true, v: true })
      .then(() => {
        containers += 1;
      })
      .catch((error: unknown) =>
        options.logger?.warn("leftover container not removed", { id: info.Id, error }),
      );
  }
  for (const info of await options.docker.listNetworks({ filters })) {
    await options.docker
      .getNetwork(info.Id)
      .remove()
      .then(() => {
        networks += 1;
      })
      .catch((error: unknown) =>
        options.logger?.warn("leftover network not removed", { id: info.Id, error }),
      );
  }
  return { containers, networks };
}
