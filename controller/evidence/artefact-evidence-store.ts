import { S3Client } from "@aws-sdk/client-s3";
import type { ArtefactSettings, S3Location } from "../cli/controller-settings.ts";
import { type EvidenceStore, folderEvidenceStore } from "./evidence-store.ts";
import { s3EvidenceStore } from "./s3-evidence-store.ts";

/** The S3 client of the artefacts bucket (artefacts.s3.*): path-style for S3-compatible endpoints. */
export function artefactS3Client(location: S3Location): S3Client {
  return new S3Client({
    region: location.region,
    endpoint: location.endpoint,
    forcePathStyle: location.endpoint !== undefined,
    // Checksums only where the API requires them: S3-compatible servers differ in support.
    requestChecksumCalculation: "WHEN_REQUIRED",
    ...(location.accessKeyId && location.secretAccessKey
      ? { credentials: { accessKeyId: location.accessKeyId, secretAccessKey: location.secretAccessKey } }
      : {}),
  });
}

/** The evidence store artefacts.* names; undefined for artefacts.target none. */
export function artefactEvidenceStore(artefacts: ArtefactSettings): EvidenceStore | undefined {
  switch (artefacts.target) {
    case "none":
      return undefined;
    case "folder":
      return folderEvidenceStore(artefacts.folder);
    case "s3":
      return s3EvidenceStore({
        client: artefactS3Client(artefacts),
        bucket: artefacts.bucket,
        prefix: artefacts.prefix,
      });
  }
}
