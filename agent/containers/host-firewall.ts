import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";

const run = promisify(execFile);

/** A firewall rule the agent added; `remove` takes it out again and never throws. */
export interface HostGuard {
  /** The rule, as iptables arguments after the chain. */
  rule: string[];
  remove(): Promise<void>;
}

/**
 * Stops containers on a bridge from opening connections to the host itself.
 *
 * Why: Docker's `Internal: true` drops traffic the host would *forward* (no route to the world),
 * but the containers keep a gateway address on the host, and packets to any of the host's own
 * addresses are delivered locally (iptables INPUT), so an arm could reach every host service
 * listening on 0.0.0.0 (measured on this engine: a connection to the host's eth0 address
 * succeeded from an internal network). This rule drops new connections coming in from the
 * job's bridge; replies to connections the agent opens (state ESTABLISHED) still pass.
 * The rule names its owner (the agent's identity) in a comment, so a restarted agent removes the
 * rules it left, and only those. Needs root and iptables; throws CacheonError("failed-precondition")
 * saying so otherwise.
 */
export async function guardHostFromBridge(bridge: string, owner: string): Promise<HostGuard> {
  if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(bridge)) {
    throw new CacheonError("invalid-argument", `"${bridge}" is not a valid network interface name`);
  }
  const rule = guardRule(bridge, owner);
  try {
    await run("iptables", ["-w", "5", "-I", "INPUT", "1", ...rule]);
  } catch (error) {
    throw new CacheonError(
      "failed-precondition",
      `cannot add the firewall rule that keeps arms away from the host's own services (iptables -I INPUT ${rule.join(" ")}): ${(error as Error).message.split("\n")[0]}. Run the agent as root with iptables installed, or accept the risk with the host-guard option off`,
      { cause: error },
    );
  }
  let removed = false;
  return {
    rule,
    async remove() {
      if (removed) return;
      removed = true;
      await run("iptables", ["-w", "5", "-D", "INPUT", ...rule]).catch(() => {});
    },
  };
}

/** The comment that marks an agent's rules: "cacheon-agent=<owner>" (owner reduced to safe characters). */
export function ruleComment(owner: string): string {
  return `cacheon-agent=${owner.replace(/[^A-Za-z0-9_.:-]/g, "-").slice(0, 200)}`;
}

/** The guard rule of one bridge, as iptables arguments after the chain. Pure. */
export function guardRule(bridge: string, owner: string): string[] {
  return [
    "-i",
    bridge,
    "-m",
    "conntrack",
    "--ctstate",
    "NEW,INVALID",
    "-m",
    "comment",
    "--comment",
    ruleComment(owner),
    "-j",
    "DROP",
  ];
}

/** The bridges of `owner`'s guard rules in `iptables -S INPUT` output. Pure. */
export function ownedGuardBridges(listing: string, owner: string): string[] {
  const comment = ruleComment(owner);
  const bridges: string[] = [];
  for (const line of listing.split("\n")) {
    const mark = line.match(/--comment "?([^"\s]+)"?/)?.[1];
    const bridge = line.match(/ -i (\S+)/)?.[1];
    if (line.startsWith("-A INPUT ") && mark === comment && bridge && line.endsWith("-j DROP"))
      bridges.push(bridge);
  }
  return bridges;
}

/**
 * Removes every guard rule `owner` added (an agent that was killed left them behind). Returns how
 * many went; 0 where iptables is not there to ask (nothing could have been added).
 */
export async function removeOwnedGuards(owner: string): Promise<number> {
  let listing: string;
  try {
    listing = (await run("iptables", ["-w", "5", "-S", "INPUT"])).stdout;
  } catch {
    return 0;
  }
  let removed = 0;
  for (const bridge of ownedGuardBridges(listing, owner)) {
    await run("iptables", ["-w", "5", "-D", "INPUT", ...guardRule(bridge, owner)]).then(
      () => {
        removed += 1;
      },
      () => {},
    );
  }
  return removed;
}
