import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import type { PodProvider, ProviderPod } from "./pod-provider.ts";

/** One pre-provisioned machine. */
export interface StaticMachine {
  /** Operator's id for it. */
  id: string;
  /** Address. */
  host: string;
  /** Profile name it satisfies, e.g. "h200x8". */
  profile: string;
  /** What it costs while leased, USD per hour (0 for owned hardware). @default 0 */
  pricePerHour?: number;
}

/** Options of {@link createStaticProvider}. */
export interface StaticProviderOptions {
  /** The machines; ids must be unique. */
  machines: readonly StaticMachine[];
  /** @default "static" */
  name?: string;
}

/**
 * A provider over machines that already exist: create leases a free one matching the profile and
 * price limit, release frees it (the machine keeps running; it is the operator's). list reports
 * the leased ones, which is what the fleet holds.
 */
export function createStaticProvider(options: StaticProviderOptions): PodProvider {
  const ids = new Set<string>();
  for (const machine of options.machines) {
    if (!machine.id || ids.has(machine.id)) {
      throw new CacheonError(
        "invalid-config",
        `static provider: machine ids must be unique and non-empty (got ${JSON.stringify(machine.id)})`,
      );
    }
    ids.add(machine.id);
  }
  const leases = new Map<string, string>(); // machine id -> pod id
  const pod = (machine: StaticMachine): ProviderPod => ({
    id: machine.id,
    host: machine.host,
    status: "running",
    pricePerHour: machine.pricePerHour ?? 0,
    ...(leases.has(machine.id) ? { podId: leases.get(machine.id) as string } : {}),
  });
  return {
    name: options.name ?? "static",
    async create(request) {
      const fitting = options.machines.filter((m) => m.profile === request.profile.name);
      const avoid = request.avoidHosts ?? [];
      const free = fitting.find(
        (m) =>
          !leases.has(m.id) && (m.pricePerHour ?? 0) <= request.maxPricePerHour && !avoid.includes(m.host),
      );
      if (!free) {
        throw new CacheonError(
          "resource-exhausted",
          `static provider: no free machine of profile ${request.profile.name} at most USD ${request.maxPricePerHour}/h${avoid.length ? ` outside hosts ${avoid.join(", ")}` : ""} (${fitting.length} configured, ${fitting.filter((m) => leases.has(m.id)).length} leased); add machines or release one`,
        );
      }
      leases.set(free.id, request.podId);
      return pod(free);
    },
    async list() {
      return options.machines.filter((m) => leases.has(m.id)).map(pod);
    },
    async get(id) {
      const machine = options.machines.find((m) => m.id === id && leases.has(m.id));
      return machine ? pod(machine) : undefined;
    },
    async release(id) {
      leases.delete(id);
    },
    adopt(machines) {
      for (const m of machines) if (ids.has(m.id)) leases.set(m.id, m.podId);
    },
  };
}
