/**
 * What makes two pods the same machine, for the rule that a reproduction runs elsewhere:
 * the provider, the host (machine address from the pod ledger) and the GPUs' UUIDs (from the
 * agent's hardware report). Local pods: provider "local", host and GPUs as configured.
 */
export interface PodIdentity {
  podId: string;
  /** Provider name, e.g. "command:lium"; "local" for local pods. */
  provider: string;
  /** Machine address; "" while unknown. */
  host: string;
  /** GPU UUIDs the agent reported, sorted; empty while unknown. */
  gpuUuids: string[];
}

/** Where identities of pods are looked up, including pods already released. */
export interface PodDirectory {
  identity(podId: string): PodIdentity | undefined;
}
