/** An artefact a job may upload. */
export interface UploadRequest {
  /** Artefact name, e.g. "a2/outputs.jsonl"; letters, digits, "._-/" only, no "..". */
  name: string;
  /** Largest body accepted, bytes. */
  maxBytes: number;
}

/** The bytes an agent announced it will upload (ArtefactReady), which a grant is bound to. */
export interface AnnouncedArtefact {
  /** sha256 (hex) of the bytes. */
  sha256: string;
  sizeBytes: number;
}

/** A pre-signed URL for exactly one announced body. */
export interface UploadGrantUrl {
  url: string;
  /** Headers the PUT must carry as given (the signature covers them). */
  headers: Record<string, string>;
  /** When the URL stops working, ms since the epoch. */
  expiresAtMs: number;
}

/** What the controller found when it checked an upload against what the agent announced. */
export interface UploadVerification {
  jobId: string;
  name: string;
  /** True when the object exists and its size and sha256 match the announcement. */
  verified: boolean;
  /** Why not, when not verified. */
  problem?: string;
  /** Where the verified object lives (for the scheduler and publishing), e.g. "s3://bucket/key". */
  location: string;
}

/**
 * Grants short-lived upload URLs, each bound to one announced body, and checks what arrived,
 * once. The agent only ever sees the URLs; storage credentials stay in the controller.
 */
export interface UploadStorage {
  grant(jobId: string, name: string, announced: AnnouncedArtefact, ttlMs: number): Promise<UploadGrantUrl>;
  /**
   * Checks the uploaded object against the announcement and moves it where no URL points, so
   * nothing PUT to the URL afterwards changes what was verified. Called once per artefact.
   */
  verify(jobId: string, name: string, announced: AnnouncedArtefact): Promise<UploadVerification>;
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
