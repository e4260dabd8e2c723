/** The hardware a pod must have. */
export interface PodProfile {
  /** Name the provider's scripts and the agent's hardware check know it by, e.g. "h200x8". */
  name: string;
  /** GPU model, e.g. "H200". */
  gpuModel: string;
  /** GPUs per pod. */
  gpuCount: number;
}

/** What a provider says about one of its machines. */
export type ProviderPodStatus = "provisioning" | "running" | "terminated";

/** One machine as the provider reports it. */
export interface ProviderPod {
  /** The provider's identifier for the machine (instance id, rental id). */
  id: string;
  /** Address or host name, for the operator and for noting bad hosts. */
  host: string;
  /** Provider's view of the machine. */
  status: ProviderPodStatus;
  /** Price in USD per hour. */
  pricePerHour: number;
  /** The controller's pod id the machine was created for, when the provider kept it (a tag or label). */
  podId?: string;
}

/** What the fleet asks a provider for. */
export interface CreatePodRequest {
  /** The controller's id for the pod; providers should tag the machine with it. */
  podId: string;
  /** Hardware wanted. */
  profile: PodProfile;
  /** Highest acceptable price, USD per hour. */
  maxPricePerHour: number;
  /** `#cloud-config` user-data that turns the machine into an agent. */
  userData: string;
  /**
   * Hosts the machine should not be on: hosts of pods a reproduction must be independent of,
   * and hosts noted for failing before. A hint: a provider that cannot honour it may ignore it
   * (the fleet checks the host it gets); the static provider honours it.
   */
  avoidHosts?: string[];
}

/**
 * A source of GPU machines. Implementations: `static` (pre-provisioned machines), `command`
 * (operator scripts wrapping any cloud's CLI). API providers (Targon, Lium, Shadeform) follow the
 * shape in docs/providers.md.
 */
export interface PodProvider {
  /** Short name for logs and cost records, e.g. "command:lium". */
  readonly name: string;
  /** Rents one machine; resolves once the provider accepted the order (it may still be provisioning). */
  create(request: CreatePodRequest, signal?: AbortSignal): Promise<ProviderPod>;
  /** Every machine this provider currently holds for us (not terminated ones, though they may appear). */
  list(signal?: AbortSignal): Promise<ProviderPod[]>;
  /** One machine, or undefined when the provider no longer knows it. */
  get(id: string, signal?: AbortSignal): Promise<ProviderPod | undefined>;
  /** Returns a machine. Releasing one that is already gone succeeds. */
  release(id: string, signal?: AbortSignal): Promise<void>;
  /**
   * Told, when a controller restarts, which of its machines the fleet still holds (machine id
   * and pod id). A provider that keeps its leases in memory (static) takes them back; others
   * ignore it: their list is the truth.
   */
  adopt?(machines: readonly { id: string; podId: string }[]): void;
}
