import { create } from "@bufbuild/protobuf";
import {
  type ArtefactReady,
  type ArtefactUploaded,
  type ControllerMessage,
  ControllerMessageSchema,
} from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import { UploadTargetSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import type { Logger } from "../../shared/log/logger.ts";
import type { ArtefactRow, ControlPlaneStore } from "./control-plane-store.ts";
import type { UploadStorage, UploadVerification } from "./upload-storage.ts";

/** What {@link ArtefactIntake} needs from the control plane. */
export interface ArtefactIntakeOptions {
  store: Pick<ControlPlaneStore, "artefact" | "putArtefact">;
  /** Where agents upload; undefined when this controller takes no uploads. */
  uploads: UploadStorage | undefined;
  /** How long a granted URL stays valid. */
  uploadTtlMs: number;
  now: () => number;
  logger: Logger;
  /** Sends an agent an UploadGrant, sequenced and stored like its jobs and cancellations. */
  sendGrant: (agentId: string, jobId: string, build: (seq: number) => ControllerMessage) => void;
  /** Told once an artefact's check has ended, either way. */
  onVerified: (agentId: string, verification: UploadVerification) => void;
  /** Told when a check of storage starts. */
  onCheckStarted: () => void;
}

/**
 * Why an announced artefact gets no upload URL, or undefined when it gets one: not a target of
 * its job, checked already, an earlier URL still valid, the job over, or more bytes than allowed.
 * Pure.
 */
export function uploadRefusal(
  row: ArtefactRow | undefined,
  request: { sizeBytes: number; jobState: string | undefined; nowMs: number; takesUploads: boolean },
): string | undefined {
  if (!request.takesUploads) return "this controller takes no uploads";
  if (!row) return "the job names no such upload target";
  if (row.state === "verified" || row.state === "refused")
    return `it was checked already (${row.state}); an artefact is uploaded once`;
  if (row.state === "granted" && row.expiresAtMs > request.nowMs)
    return "a URL granted for it is still valid; use that one";
  if (request.jobState !== "assigned") return "the job is over";
  if (request.sizeBytes > row.maxBytes)
    return `${request.sizeBytes} bytes is above the ${row.maxBytes} allowed; cut it`;
  return undefined;
}

/**
 * The artefacts agents upload: a URL bound to exactly the bytes an agent announced, and one check
 * of storage once it says they are there. Every state is in the store, so a restart loses none.
 */
export class ArtefactIntake {
  readonly #options: ArtefactIntakeOptions;
  /** Artefacts being checked now (job/name), so a repeated report starts no second check. */
  readonly #checking = new Set<string>();

  constructor(options: ArtefactIntakeOptions) {
    this.#options = options;
  }

  /**
   * An agent announced an artefact's bytes: it gets a URL bound to exactly them, valid for
   * minutes, or a refusal saying why ({@link uploadRefusal}).
   */
  ready(agentId: string, ready: ArtefactReady, jobState: string | undefined): void {
    const { store, uploads, uploadTtlMs, logger } = this.#options;
    const row = store.artefact(ready.jobId, ready.name);
    const size = Number(ready.sizeBytes);
    const now = this.#options.now();
    const problem = uploadRefusal(row, {
      sizeBytes: size,
      jobState,
      nowMs: now,
      takesUploads: uploads !== undefined,
    });
    const grant = (fields: {
      target?: { url: string; expiresAtMs: number };
      headers?: Record<string, string>;
      refused?: string;
    }) =>
      this.#options.sendGrant(agentId, ready.jobId, (seq) =>
        create(ControllerMessageSchema, {
          kind: {
            case: "uploadGrant",
            value: {
              seq: BigInt(seq),
              jobId: ready.jobId,
              name: ready.name,
              ...(fields.target
                ? {
                    target: create(UploadTargetSchema, {
                      name: ready.name,
                      url: fields.target.url,
                      maxBytes: BigInt(size),
                      expiresAtUnixMs: BigInt(fields.target.expiresAtMs),
                    }),
                  }
                : {}),
              headers: fields.headers ?? {},
              refused: fields.refused ?? "",
            },
          },
        }),
      );
    if (problem || !row || !uploads) {
      logger.warn("upload refused", { agentId, jobId: ready.jobId, name: ready.name, problem });
      grant({ refused: `upload of ${ready.name} refused: ${problem}` });
      return;
    }
    // Granted before the URL is signed: a repeated announcement meanwhile finds it taken.
    const granted: ArtefactRow = {
      ...row,
      state: "granted",
      sizeBytes: size,
      sha256: ready.sha256,
      expiresAtMs: now + uploadTtlMs,
    };
    store.putArtefact(granted);
    uploads.grant(ready.jobId, ready.name, { sha256: ready.sha256, sizeBytes: size }, uploadTtlMs).then(
      (url) => {
        store.putArtefact({ ...granted, expiresAtMs: url.expiresAtMs });
        grant({ target: url, headers: url.headers });
      },
      (error: unknown) => {
        store.putArtefact({ ...granted, state: "allowed", expiresAtMs: 0 });
        grant({
          refused: `upload of ${ready.name} refused: cannot sign a URL: ${(error as Error).message}`,
        });
      },
    );
  }

  /**
   * An agent says an artefact is uploaded: checked once against what it announced (the storage
   * moves it where no URL points). A repeated report, or one for an artefact never granted or
   * already checked, starts no second check: storage is read once per artefact at most.
   */
  uploaded(agentId: string, uploaded: ArtefactUploaded): void {
    const { store, uploads } = this.#options;
    const row = store.artefact(uploaded.jobId, uploaded.name);
    const key = `${uploaded.jobId}\n${uploaded.name}`;
    if (!uploads || !row || row.state === "verified" || row.state === "refused" || this.#checking.has(key))
      return;
    const settle = (verification: UploadVerification) => {
      store.putArtefact({
        ...row,
        state: verification.verified ? "verified" : "refused",
        problem: verification.problem ?? "",
        location: verification.verified ? verification.location : "",
      });
      this.#checking.delete(key);
      this.#options.onVerified(agentId, verification);
    };
    const refuse = (problem: string) =>
      settle({ jobId: uploaded.jobId, name: uploaded.name, verified: false, problem, location: "" });
    if (row.state !== "granted") {
      refuse("reported uploaded, but no URL was granted for it");
      return;
    }
    if (uploaded.sha256 !== row.sha256 || Number(uploaded.sizeBytes) !== row.sizeBytes) {
      refuse(
        `the report (${uploaded.sizeBytes} bytes, sha256 ${uploaded.sha256}) differs from the announcement (${row.sizeBytes} bytes, sha256 ${row.sha256})`,
      );
      return;
    }
    this.#checking.add(key);
    this.#options.onCheckStarted();
    uploads
      .verify(uploaded.jobId, uploaded.name, { sha256: row.sha256, sizeBytes: row.sizeBytes })
      .catch(
        (error: unknown): UploadVerification => ({
          jobId: uploaded.jobId,
          name: uploaded.name,
          verified: false,
          problem: `verification failed: ${(error as Error).message}`,
          location: "",
        }),
      )
      .then(settle);
  }
}
