import { tryParseImageReference } from "../../shared/image/image-reference.ts";
import { isLoopbackHost } from "../../shared/net/loopback.ts";
import { type DoctorCheck, fail, ok, warn } from "./doctor-check.ts";

const manifestTypes = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

/**
 * Checks rounds.baselineImage: set, pinned by digest, and (where the registry answers without
 * credentials) present there by that digest: every job starts from it, so a baseline pods cannot
 * pull fails every round.
 */
export async function checkBaselineImage(
  reference: string,
  options: { timeoutMs?: number } = {},
): Promise<DoctorCheck> {
  const title = "baseline image";
  if (!reference)
    return fail(
      "baseline-image",
      title,
      "rounds.baselineImage is not set",
      'set the pinned baseline, e.g. "registry/cacheon/baseline@sha256:<64 hex>"',
    );
  const parsed = tryParseImageReference(reference);
  if (!parsed.ok)
    return fail(
      "baseline-image",
      title,
      parsed.error,
      "pin the baseline by digest: registry/repository[:tag]@sha256:<64 hex> (`docker buildx imagetools inspect IMAGE` prints it)",
    );
  const image = parsed.image;
  const host = image.registry === "docker.io" ? "registry-1.docker.io" : image.registry;
  const scheme = isLoopbackHost(host.replace(/:\d+$/, "")) ? "http" : "https";
  const url = `${scheme}://${host}/v2/${image.repository}/manifests/${image.digest}`;
  let status: number;
  try {
    const res = await fetch(url, {
      method: "HEAD",
      headers: { accept: manifestTypes },
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
    status = res.status;
  } catch (error) {
    return warn(
      "baseline-image",
      title,
      `pinned by digest; ${host} did not answer (${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message})`,
      "the pods pull it, not the controller: make sure they can reach the registry",
    );
  }
  if (status === 200) return ok("baseline-image", title, `${reference} is in ${image.registry}`);
  if (status === 404)
    return fail(
      "baseline-image",
      title,
      `${image.registry} has no manifest ${image.digest} in ${image.repository}`,
      "push the baseline (or fix the digest): pods could not pull it and every job would fail",
    );
  if (status === 401 || status === 403)
    return warn(
      "baseline-image",
      title,
      `pinned by digest; ${image.registry} asks for credentials (HTTP ${status}), so its presence was not checked`,
      "pods pull without credentials: the baseline's repository must be public",
    );
  return warn(
    "baseline-image",
    title,
    `pinned by digest; ${image.registry} answered HTTP ${status}`,
    "check the registry",
  );
}
