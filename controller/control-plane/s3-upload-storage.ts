import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { create } from "@bufbuild/protobuf";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type UploadTarget, UploadTargetSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import {
  type UploadRequest,
  type UploadStorage,
  type UploadVerification,
  uploadNameProblem,
} from "./upload-storage.ts";

/** Options of {@link S3UploadStorage}. */
export interface S3UploadStorageOptions {
  /** A client holding the controller's storage credentials (they never leave the controller). */
  client: S3Client;
  /** Bucket artefacts go to. */
  bucket: string;
  /** Key prefix, e.g. "artefacts/". @default "" */
  prefix?: string;
  /** Clock, ms since the epoch. @default Date.now */
  now?: () => number;
}

/**
 * Upload URLs as S3 pre-signed PUTs, one object key per artefact ("<prefix>jobs/<job>/<name>"),
 * valid for the job's upload lifetime. A pre-signed PUT cannot cap the body size, so verify()
 * checks it afterwards together with the sha256, reading the object back.
 */
export class S3UploadStorage implements UploadStorage {
  readonly #options: S3UploadStorageOptions;
  readonly #issued = new Map<string, number>();

  constructor(options: S3UploadStorageOptions) {
    this.#options = options;
  }

  /** The object key of an artefact. */
  key(jobId: string, name: string): string {
    return `${this.#options.prefix ?? ""}jobs/${jobId}/${name}`;
  }

  async issue(jobId: string, request: UploadRequest, ttlMs: number): Promise<UploadTarget> {
    const problem = uploadNameProblem(request.name) ?? uploadNameProblem(jobId);
    if (problem) throw new CacheonError("invalid-argument", `upload ${jobId}/${request.name}: ${problem}`);
    const expiresIn = Math.max(1, Math.min(7 * 24 * 3600, Math.ceil(ttlMs / 1000)));
    const url = await getSignedUrl(
      this.#options.client,
      new PutObjectCommand({ Bucket: this.#options.bucket, Key: this.key(jobId, request.name) }),
      { expiresIn },
    );
    this.#issued.set(`${jobId}\n${request.name}`, request.maxBytes);
    return create(UploadTargetSchema, {
      name: request.name,
      url,
      maxBytes: BigInt(request.maxBytes),
      expiresAtUnixMs: BigInt((this.#options.now ?? Date.now)() + expiresIn * 1000),
    });
  }

  async verify(
    jobId: string,
    name: string,
    reported: { sha256: string; sizeBytes: number },
  ): Promise<UploadVerification> {
    const key = this.key(jobId, name);
    const location = `s3://${this.#options.bucket}/${key}`;
    const refuse = (problem: string): UploadVerification => ({
      jobId,
      name,
      verified: false,
      problem,
      location,
    });
    const maxBytes = this.#issued.get(`${jobId}\n${name}`);
    if (maxBytes === undefined) return refuse("no upload URL was issued for this artefact");
    let size: number;
    try {
      const head = await this.#options.client.send(
        new HeadObjectCommand({ Bucket: this.#options.bucket, Key: key }),
      );
      size = Number(head.ContentLength ?? -1);
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404) return refuse("nothing was uploaded");
      throw new CacheonError("unavailable", `cannot check ${location}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (size > maxBytes) return refuse(`object is ${size} bytes, above the ${maxBytes} allowed`);
    if (size !== reported.sizeBytes)
      return refuse(`object is ${size} bytes but the agent reported ${reported.sizeBytes}`);
    const object = await this.#options.client.send(
      new GetObjectCommand({ Bucket: this.#options.bucket, Key: key }),
    );
    const hash = createHash("sha256");
    for await (const chunk of object.Body as Readable) hash.update(chunk as Buffer);
    const sha256 = hash.digest("hex");
    if (sha256 !== reported.sha256)
      return refuse(`object sha256 ${sha256} differs from the reported ${reported.sha256}`);
    return { jobId, name, verified: true, location };
  }
}
