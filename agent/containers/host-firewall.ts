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
 * Needs root and iptables; throws CacheonError("failed-precondition") saying so otherwise.
 */
export async function guardHostFromBridge(bridge: string): Promise<HostGuard> {
  if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(bridge)) {
    throw new CacheonError("invalid-argument", `"${bridge}" is not a valid network interface name`);
  }
  const rule = ["-i", bridge, "-m", "conntrack", "--ctstate", "NEW,INVALID", "-j", "DROP"];
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
