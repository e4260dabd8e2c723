import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import {
  CopyObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import {
  type AnnouncedArtefact,
  type UploadGrantUrl,
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
 * Upload URLs as S3 pre-signed PUTs to a staging key ("<prefix>uploads/<job>/<name>"), each
 * signed over the announced content-length and sha256 (x-amz-checksum-sha256), so S3 refuses
 * any other body. Verification copies the staging object server-side to its final key
 * ("<prefix>jobs/<job>/<name>", which no URL names) and checks the copy: its size by HEAD (a
 * body of another size is refused before it is copied or read), its sha256 by the checksum S3
 * keeps when it reports one, otherwise by one read. A PUT replayed to the URL afterwards lands on
 * the staging key and changes nothing verified. Servers that do not enforce signed headers
 * (s3rver) are still covered by the checks. Give <prefix>uploads/ a lifecycle rule (a day).
 */
export class S3UploadStorage implements UploadStorage {
  readonly #options: S3UploadStorageOptions;

  constructor(options: S3UploadStorageOptions) {
    this.#options = options;
  }

  /** The final object key of an artefact (where verified artefacts live). */
  key(jobId: string, name: string): string {
    return `${this.#options.prefix ?? ""}jobs/${jobId}/${name}`;
  }

  /** The staging key agents PUT to. */
  uploadKey(jobId: string, name: string): string {
    return `${this.#options.prefix ?? ""}uploads/${jobId}/${name}`;
  }

  async grant(
    jobId: string,
    name: string,
    announced: AnnouncedArtefact,
    ttlMs: number,
  ): Promise<UploadGrantUrl> {
    const problem = uploadNameProblem(name) ?? uploadNameProblem(jobId);
    if (problem) throw new CacheonError("invalid-argument", `upload ${jobId}/${name}: ${problem}`);
    if (!/^[0-9a-f]{64}$/.test(announced.sha256))
      throw new CacheonError(
        "invalid-argument",
        `upload ${jobId}/${name}: sha256 is not 64 lowercase hex characters`,
      );
    if (!Number.isSafeInteger(announced.sizeBytes) || announced.sizeBytes < 0)
      throw new CacheonError(
        "invalid-argument",
        `upload ${jobId}/${name}: size ${announced.sizeBytes} is not a byte count`,
      );
    const expiresIn = Math.max(1, Math.min(7 * 24 * 3600, Math.ceil(ttlMs / 1000)));
    const checksum = Buffer.from(announced.sha256, "hex").toString("base64");
    const url = await getSignedUrl(
      this.#options.client,
      new PutObjectCommand({
        Bucket: this.#options.bucket,
        Key: this.uploadKey(jobId, name),
        ContentLength: announced.sizeBytes,
        ChecksumSHA256: checksum,
      }),
      {
        expiresIn,
        signableHeaders: new Set(["content-length", "x-amz-checksum-sha256"]),
        unhoistableHeaders: new Set(["x-amz-checksum-sha256"]),
      },
    );
    return {
      url,
      headers: { "content-length": String(announced.sizeBytes), "x-amz-checksum-sha256": checksum },
      expiresAtMs: (this.#options.now ?? Date.now)() + expiresIn * 1000,
    };
  }

  async verify(jobId: string, name: string, announced: AnnouncedArtefact): Promise<UploadVerification> {
    const { client, bucket } = this.#options;
    const key = this.key(jobId, name);
    const staged = this.uploadKey(jobId, name);
    const location = `s3://${bucket}/${key}`;
    const refuse = (problem: string): UploadVerification => ({
      jobId,
      name,
      verified: false,
      problem,
      location,
    });
    const failed = (what: string, error: unknown) => {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404) return refuse("nothing was uploaded");
      throw new CacheonError("unavailable", `cannot ${what} ${location}: ${(error as Error).message}`, {
        cause: error,
      });
    };
    const sizeOf = async (k: string) =>
      await client.send(new HeadObjectCommand({ Bucket: bucket, Key: k, ChecksumMode: "ENABLED" }));
    const wrongSize = (size: number) =>
      refuse(`object is ${size} bytes but ${announced.sizeBytes} were announced`);
    // A body of another size is refused as it lies, never copied or read.
    try {
      const head = await sizeOf(staged);
      if (Number(head.ContentLength ?? -1) !== announced.sizeBytes)
        return wrongSize(Number(head.ContentLength ?? -1));
    } catch (error) {
      return failed("check the upload for", error);
    }
    try {
      await client.send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: key,
          CopySource: `${bucket}/${staged}`,
          ChecksumAlgorithm: "SHA256",
        }),
      );
    } catch (error) {
      return failed("copy the upload to", error);
    }
    // What is checked from here on is the copy, which no URL can change. (The staging object is
    // left for a lifecycle rule on <prefix>uploads/: deleting while other uploads land beside it
    // races in some S3-compatible servers.)
    let size: number;
    let checksum: string | undefined;
    try {
      const head = await sizeOf(key);
      size = Number(head.ContentLength ?? -1);
      checksum = head.ChecksumSHA256;
    } catch (error) {
      return failed("check", error);
    }
    if (size !== announced.sizeBytes) return wrongSize(size);
    let sha256: string;
    if (checksum && !checksum.includes("-")) {
      sha256 = Buffer.from(checksum, "base64").toString("hex");
    } else {
      const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const hash = createHash("sha256");
      for await (const chunk of object.Body as Readable) hash.update(chunk as Buffer);
      sha256 = hash.digest("hex");
    }
    if (sha256 !== announced.sha256)
      return refuse(`object sha256 ${sha256} differs from the announced ${announced.sha256}`);
    return { jobId, name, verified: true, location };
  }
}
