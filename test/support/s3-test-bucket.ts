import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from "@aws-sdk/client-s3";
import { type TestServices, testServices } from "./services.ts";

/** A bucket of its own on the shared S3 test server; remove() empties and deletes it. */
export interface TestBucket {
  bucket: string;
  client: S3Client;
  s3: TestServices["s3"];
  remove(): Promise<void>;
}

/** Creates a uniquely named bucket on the S3 server of `scripts/test-env`. */
export async function createTestBucket(prefix: string): Promise<TestBucket> {
  const s3 = testServices().s3;
  const bucket = `${prefix}-${process.pid}-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    bucket,
    client,
    s3,
    // Leaves the shared server as it was.
    async remove() {
      const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
      for (const o of listed.Contents ?? [])
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key }));
      await client.send(new DeleteBucketCommand({ Bucket: bucket }));
    },
  };
}
