import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uploadArtefact } from "../../agent/session/upload-artefact.ts";
import { testServices } from "../../test/support/services.ts";
import { S3UploadStorage } from "./s3-upload-storage.ts";

const bucket = `cacheon-test-control-plane-${process.pid}`;
let client: S3Client;
beforeAll(async () => {
  const { s3 } = testServices();
  client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
  });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
});
afterAll(() => client?.destroy());

describe("S3 upload storage with pre-signed PUT URLs (real S3 server)", () => {
  it("issues a URL scoped to one key that the agent PUTs to without credentials, then verifies size and sha256", async () => {
    const storage = new S3UploadStorage({ client, bucket, prefix: "t1/" });
    const target = await storage.issue("job-1", { name: "a0/outputs.jsonl", maxBytes: 1024 }, 60_000);
    expect(target.url).toContain(`/${bucket}/t1/jobs/job-1/a0/outputs.jsonl?`);
    expect(target.url).toMatch(/X-Amz-Expires=60/);
    expect(target.url).not.toContain("S3RVER&"); // the secret key never appears; only the access key id does
    const body = new TextEncoder().encode('{"a":1}\n{"a":2}\n');
    const uploaded = await uploadArtefact("job-1", target, body);
    expect(uploaded.sizeBytes).toBe(BigInt(body.byteLength));
    const verified = await storage.verify("job-1", "a0/outputs.jsonl", {
      sha256: uploaded.sha256,
      sizeBytes: Number(uploaded.sizeBytes),
    });
    expect(verified).toEqual({
      jobId: "job-1",
      name: "a0/outputs.jsonl",
      verified: true,
      location: `s3://${bucket}/t1/jobs/job-1/a0/outputs.jsonl`,
    });
  });

  it("does not trust an upload whose bytes differ from the report, or that never happened", async () => {
    const storage = new S3UploadStorage({ client, bucket, prefix: "t2/" });
    const target = await storage.issue("job-2", { name: "log.txt", maxBytes: 1024 }, 60_000);
    const uploaded = await uploadArtefact("job-2", target, new TextEncoder().encode("real bytes"));
    const wrongHash = await storage.verify("job-2", "log.txt", { sha256: "0".repeat(64), sizeBytes: 10 });
    expect(wrongHash).toMatchObject({ verified: false, problem: /differs from the reported 0000/ });
    const wrongSize = await storage.verify("job-2", "log.txt", { sha256: uploaded.sha256, sizeBytes: 11 });
    expect(wrongSize).toMatchObject({ verified: false, problem: /10 bytes but the agent reported 11/ });
    await storage.issue("job-2", { name: "missing.txt", maxBytes: 10 }, 60_000);
    expect(
      await storage.verify("job-2", "missing.txt", { sha256: uploaded.sha256, sizeBytes: 1 }),
    ).toMatchObject({
      verified: false,
      problem: "nothing was uploaded",
    });
    expect(
      await storage.verify("job-2", "never-issued", { sha256: uploaded.sha256, sizeBytes: 1 }),
    ).toMatchObject({
      verified: false,
      problem: /no upload URL was issued/,
    });
  });

  it("refuses an object above max_bytes even though a pre-signed PUT cannot stop it", async () => {
    const storage = new S3UploadStorage({ client, bucket, prefix: "t3/" });
    const target = await storage.issue("job-3", { name: "big.bin", maxBytes: 4 }, 60_000);
    // A misbehaving agent ignores max_bytes and PUTs more straight to the URL.
    const response = await fetch(target.url, { method: "PUT", body: "too many bytes" });
    expect(response.ok).toBe(true);
    expect(await storage.verify("job-3", "big.bin", { sha256: "a".repeat(64), sizeBytes: 14 })).toMatchObject(
      {
        verified: false,
        problem: /14 bytes, above the 4 allowed/,
      },
    );
    // The agent's own uploader refuses before sending.
    await expect(uploadArtefact("job-3", target, new Uint8Array(5))).rejects.toMatchObject({
      code: "resource-exhausted",
    });
  });

  it("refuses bad artefact names and expired targets before anything is sent", async () => {
    const storage = new S3UploadStorage({ client, bucket });
    await expect(storage.issue("job-4", { name: "../escape", maxBytes: 1 }, 60_000)).rejects.toMatchObject({
      code: "invalid-argument",
      message: /without "\." or "\.\." parts/,
    });
    const target = await storage.issue("job-4", { name: "x", maxBytes: 10 }, 1000);
    await expect(
      uploadArtefact("job-4", target, new Uint8Array(1), { now: () => Number(target.expiresAtUnixMs) + 1 }),
    ).rejects.toMatchObject({ code: "deadline-exceeded" });
    // Keys of other jobs are untouched by this job's URL.
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: "jobs/other/x", Body: "keep" }));
    expect(new URL(target.url).pathname).toBe(`/${bucket}/jobs/job-4/x`);
  });
});
