import type Docker from "dockerode";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import { removeOwnedGuards } from "./host-firewall.ts";
import { removeJobObjects } from "./job-network.ts";

/** What a sweep removed. */
export interface SweepCounts {
  containers: number;
  networks: number;
  firewallRules: number;
  images: number;
}

/**
 * What an agent that was killed left behind, removed before it takes another job: the containers
 * (which would keep holding the GPUs) and networks labelled with its identity, the firewall rules
 * that name it, and the images it had pulled for the interrupted job. Scoped to `owner`: other
 * agents sharing the engine keep everything of theirs. Never throws; what it could not remove is
 * logged (the GPU checks of the next job then catch what matters).
 */
export async function sweepLeftovers(options: {
  docker: Docker;
  /** The agent's identity (PodJobOptions.owner: its agent id in pod mode). */
  owner: string;
  /** Image ids the agent recorded as pulled and not removed. */
  images?: readonly string[];
  /** Called for each image removed (or already gone), to forget it. */
  onImageRemoved?: (id: string) => void;
  logger?: Logger;
}): Promise<SweepCounts> {
  const logger = options.logger ?? silentLogger;
  const objects = await removeJobObjects({ docker: options.docker, owner: options.owner, logger }).catch(
    (error: unknown) => {
      logger.warn("could not list leftover containers and networks", { error });
      return { containers: 0, networks: 0 };
    },
  );
  const firewallRules = await removeOwnedGuards(options.owner);
  let images = 0;
  for (const id of options.images ?? []) {
    try {
      await options.docker.getImage(id).remove({ force: true });
      images += 1;
      options.onImageRemoved?.(id);
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) options.onImageRemoved?.(id);
      else logger.warn("leftover image not removed", { image: id, error: error as Error });
    }
  }
  const counts = { ...objects, firewallRules, images };
  if (objects.containers + objects.networks + firewallRules + images > 0) {
    logger.warn("removed what an earlier run of this agent left behind", { ...counts });
  }
  return counts;
}
