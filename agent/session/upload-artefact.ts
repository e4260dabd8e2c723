import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import {
  type ArtefactUploaded,
  ArtefactUploadedSchema,
} from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import type { UploadTarget } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { readCappedText } from "../../shared/http/read-capped-text.ts";
import { requireTlsOffLoopback } from "../../shared/net/loopback.ts";

/**
 * PUTs one artefact to its pre-signed URL and returns the ArtefactUploaded payload (sha256 and
 * size) to emit, which the controller checks against what arrived. Refuses bodies above the
 * target's max_bytes and expired targets before sending anything.
 */
export async function uploadArtefact(
  jobId: string,
  target: UploadTarget,
  body: Uint8Array,
  options: {
    signal?: AbortSignal;
    now?: () => number;
    /** Headers the URL's signature covers (from the UploadGrant), sent as given. */
    headers?: Record<string, string>;
  } = {},
): Promise<ArtefactUploaded> {
  // A pre-signed URL is a credential of its own: never over plain HTTP to another machine.
  requireTlsOffLoopback(target.url, `upload URL for ${target.name}`);
  const now = (options.now ?? Date.now)();
  if (target.maxBytes > 0n && BigInt(body.byteLength) > target.maxBytes) {
    throw new CacheonError(
      "resource-exhausted",
      `artefact ${target.name} is ${body.byteLength} bytes, above the ${target.maxBytes} its upload URL allows; cut it`,
    );
  }
  if (target.expiresAtUnixMs > 0n && BigInt(now) >= target.expiresAtUnixMs) {
    throw new CacheonError(
      "deadline-exceeded",
      `the upload URL for ${target.name} expired; the controller must issue a new one`,
    );
  }
  let response: Response;
  try {
    response = await fetch(target.url, {
      method: "PUT",
      body,
      headers: { ...options.headers, "content-length": String(body.byteLength) },
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    throw new CacheonError("unavailable", `upload of ${target.name} failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (!response.ok) {
    const text = (await readCappedText(response)).text.slice(0, 300);
    throw new CacheonError(
      response.status === 403 ? "permission-denied" : "unavailable",
      `upload of ${target.name} refused with HTTP ${response.status}: ${text}`,
    );
  }
  return create(ArtefactUploadedSchema, {
    jobId,
    name: target.name,
    sha256: createHash("sha256").update(body).digest("hex"),
    sizeBytes: BigInt(body.byteLength),
  });
}
