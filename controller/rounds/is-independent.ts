import type { PodIdentity } from "../pods/pod-identity.ts";

/** Options of {@link isIndependent}. */
export interface IndependenceOptions {
  /** Providers configured; with more than one, another provider is required too. */
  providers: number;
}

/**
 * Whether a measurement on `candidate` is independent of measurements on every pod of `of`: a
 * different pod, host and GPU set (no GPU UUID shared), and, when more than one provider is
 * configured, a different provider. A re-rented pod id on the same machine, two pods on one host
 * or a pod whose GPUs moved are the same machine. Fails closed: an unknown identity, an unknown
 * host or an empty GPU set is never independent. Pure.
 */
export function isIndependent(
  candidate: PodIdentity | undefined,
  of: readonly (PodIdentity | undefined)[],
  options: IndependenceOptions,
): boolean {
  if (!known(candidate)) return false;
  const gpus = new Set(candidate.gpuUuids);
  return of.every(
    (o) =>
      known(o) &&
      o.podId !== candidate.podId &&
      o.host !== candidate.host &&
      !o.gpuUuids.some((u) => gpus.has(u)) &&
      (options.providers <= 1 || o.provider !== candidate.provider),
  );
}

function known(p: PodIdentity | undefined): p is PodIdentity {
  return p !== undefined && p.host !== "" && p.gpuUuids.length > 0;
}
