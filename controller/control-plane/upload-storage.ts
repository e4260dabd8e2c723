import type { UploadTarget } from "../../shared/gen/cacheon/v1/job_pb.ts";

/** An artefact a job may upload. */
export interface UploadRequest {
  /** Artefact name, e.g. "a2/outputs.jsonl"; letters, digits, "._-/" only, no "..". */
  name: string;
  /** Largest body accepted, bytes. */
  maxBytes: number;
}

/** What the controller found when it checked an upload against what the agent reported. */
export interface UploadVerification {
  jobId: string;
  name: string;
  /** True when the object exists and its size and sha256 match the agent's report. */
  verified: boolean;
  /** Why not, when not verified. */
  problem?: string;
  /** Where the object lives (for the scheduler and publishing), e.g. "s3://bucket/key". */
  location: string;
}

/**
 * Issues short-lived upload URLs scoped to one object each, and checks what arrived. The agent
 * only ever sees the URLs; storage credentials stay in the controller.
 */
export interface UploadStorage {
  issue(jobId: string, request: UploadRequest, ttlMs: number): Promise<UploadTarget>;
  verify(
    jobId: string,
    name: string,
    reported: { sha256: string; sizeBytes: number },
  ): Promise<UploadVerification>;
}

/** Checks an artefact name; returns a problem or undefined. */
export function uploadNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > 200) return "name must be 1-200 characters";
  if (!/^[A-Za-z0-9._\-/]+$/.test(name)) return 'name may hold letters, digits, ".", "_", "-" and "/" only';
  if (name.startsWith("/") || name.split("/").some((part) => part === ".." || part === "." || part === "")) {
    return 'name must be a relative path without "." or ".." parts';
  }
  return undefined;
}
