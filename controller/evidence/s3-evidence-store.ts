import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { artefactPath, type EvidenceStore } from "./evidence-store.ts";

/** Options of {@link s3EvidenceStore}. */
export interface S3EvidenceStoreOptions {
  /** A client with the controller's artefact credentials. */
  client: S3Client;
  bucket: string;
  /** Key prefix, e.g. "artefacts/" (artefacts.s3.prefix). @default "" */
  prefix?: string;
}

/**
 * The artefacts bucket as an evidence store: objects at `<prefix>jobs/<job>/<name>`, where the
 * upload storage puts what agents uploaded once it verified them.
 */
export function s3EvidenceStore(options: S3EvidenceStoreOptions): EvidenceStore {
  const { client, bucket } = options;
  const key = (jobId: string, name: string) => `${options.prefix ?? ""}${artefactPath(jobId, name)}`;
  const fail = (what: string, k: string, error: unknown) =>
    new CacheonError(
      "unavailable",
      `cannot ${what} s3://${bucket}/${k}: ${(error as Error).message}; check artefacts.s3.*`,
      { cause: error },
    );
  return {
    location: `s3://${bucket}/${options.prefix ?? ""}`,
    async keep(jobId, name, body) {
      const k = key(jobId, name);
      try {
        await client.send(
          new PutObjectCommand({ Bucket: bucket, Key: k, Body: body, ContentType: "application/json" }),
        );
      } catch (error) {
        throw fail("write", k, error);
      }
    },
    async read(jobId, name) {
      const k = key(jobId, name);
      try {
        const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: k }));
        return object.Body ? new Uint8Array(await object.Body.transformToByteArray()) : new Uint8Array();
      } catch (error) {
        const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
        if (e.name === "NoSuchKey" || e.$metadata?.httpStatusCode === 404) return undefined;
        throw fail("read", k, error);
      }
    },
  };
}
