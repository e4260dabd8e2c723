import { createHash } from "node:crypto";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uploadArtefact } from "../../agent/session/upload-artefact.ts";
import { UploadTargetSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { testServices } from "../../test/support/services.ts";
import { S3UploadStorage } from "./s3-upload-storage.ts";
import type { UploadGrantUrl } from "./upload-storage.ts";

const bucket = `cacheon-test-control-plane-${process.pid}`;
let client: S3Client;
const reads: string[] = [];
beforeAll(async () => {
  const { s3 } = testServices();
  client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
  });
  // Counts full reads of objects: verification may read an artefact once, never more.
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === "GetObjectCommand") reads.push((args.input as { Key: string }).Key);
      return next(args);
    },
    { step: "initialize", name: "countReads" },
  );
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
});
afterAll(() => client?.destroy());

const announce = (text: string) => {
  const body = new TextEncoder().encode(text);
  return {
    body,
    announced: { sha256: createHash("sha256").update(body).digest("hex"), sizeBytes: body.byteLength },
  };
};
const target = (name: string, grant: UploadGrantUrl) =>
  create(UploadTargetSchema, { name, url: grant.url, expiresAtUnixMs: BigInt(grant.expiresAtMs) });
const read = async (key: string) =>
  (await client
    .send(new GetObjectCommand({ Bucket: bucket, Key: key }))
    .then((o) => o.Body?.transformToString())) ?? "";

describe("S3 upload storage: URLs bound to announced bytes, verified once (real S3 server)", () => {
  it("grants a minutes-long URL bound to size and sha256 that the agent PUTs to without credentials, then verifies the copy once", async () => {
    const storage = new S3UploadStorage({ client, bucket, prefix: "t1/" });
    const { body, announced } = announce('{"a":1}\n{"a":2}\n');
    const grant = await storage.grant("job-1", "a0/outputs.jsonl", announced, 10 * 60_000);
    expect(grant.url).toContain(`/${bucket}/t1/uploads/job-1/a0/outputs.jsonl?`);
    expect(grant.url).toMatch(/X-Amz-Expires=600&/);
    // The signature covers the size and the checksum: real S3 refuses any other body.
    expect(decodeURIComponent(grant.url)).toMatch(
      /X-Amz-SignedHeaders=content-length;host;x-amz-checksum-sha256/,
    );
    expect(grant.headers).toEqual({
      "content-length": String(body.byteLength),
      "x-amz-checksum-sha256": Buffer.from(announced.sha256, "hex").toString("base64"),
    });
    expect(grant.url).not.toContain("S3RVER&"); // the secret key never appears; only the access key id does
    await uploadArtefact("job-1", target("a0/outputs.jsonl", grant), body, { headers: grant.headers });
    const before = reads.length;
    expect(await storage.verify("job-1", "a0/outputs.jsonl", announced)).toEqual({
      jobId: "job-1",
      name: "a0/outputs.jsonl",
      verified: true,
      location: `s3://${bucket}/t1/jobs/job-1/a0/outputs.jsonl`,
    });
    // One read at most (none where the server keeps the sha256 checksum).
    expect(reads.length - before).toBeLessThanOrEqual(1);
    expect(await read("t1/jobs/job-1/a0/outputs.jsonl")).toBe('{"a":1}\n{"a":2}\n');
  });

  it("a PUT replayed to the URL after verification changes nothing verified", async () => {
    const storage = new S3UploadStorage({ client, bucket, prefix: "t2/" });
    const { body, announced } = announce("the measured bytes");
    const grant = await storage.grant("job-2", "log.txt", announced, 60_000);
    await uploadArtefact("job-2", target("log.txt", grant), body, { headers: grant.headers });
    expect(await storage.verify("job-2", "log.txt", announced)).toMatchObject({ verified: true });
    // A rogue agent PUTs other bytes of the same size to the still-valid URL (s3rver does not
    // enforce the signed checksum; real S3 would refuse it).
    const replay = await fetch(grant.url, {
      method: "PUT",
      body: "forged bytes here!",
      headers: grant.headers,
    });
    expect(replay.status).toBeLessThan(500);
    expect(await read("t2/jobs/job-2/log.txt")).toBe("the measured bytes");
  });

  it("refuses bytes other than those announced, an upload that never happened, and an oversized body unread", async () => {
    const storage = new S3UploadStorage({ client, bucket, prefix: "t3/" });
    const { announced } = announce("announced");
    const swapped = await storage.grant("job-3", "swap.txt", announced, 60_000);
    await fetch(swapped.url, { method: "PUT", body: "ANNOUNCED" }); // same size, other bytes
    expect(await storage.verify("job-3", "swap.txt", announced)).toMatchObject({
      verified: false,
      problem: /object sha256 [0-9a-f]{64} differs from the announced/,
    });
    await storage.grant("job-3", "missing.txt", announced, 60_000);
    expect(await storage.verify("job-3", "missing.txt", announced)).toMatchObject({
      verified: false,
      problem: "nothing was uploaded",
    });
    // A body far above the announced size (a server that ignores the signed length takes it) is
    // refused by its size, never copied or read.
    const big = await storage.grant("job-3", "big.bin", announced, 60_000);
    await fetch(big.url, { method: "PUT", body: "x".repeat(100_000) });
    const before = reads.length;
    expect(await storage.verify("job-3", "big.bin", announced)).toMatchObject({
      verified: false,
      problem: /object is 100000 bytes but 9 were announced/,
    });
    expect(reads.length).toBe(before);
    await expect(read("t3/jobs/job-3/big.bin")).rejects.toMatchObject({ name: "NoSuchKey" });
  });

  it("refuses bad names and announcements, and expired URLs before anything is sent", async () => {
    const storage = new S3UploadStorage({ client, bucket });
    const { body, announced } = announce("x");
    await expect(storage.grant("job-4", "../escape", announced, 60_000)).rejects.toMatchObject({
      code: "invalid-argument",
      message: /without "\." or "\.\." parts/,
    });
    await expect(
      storage.grant("job-4", "x", { ...announced, sha256: "NOT-HEX" }, 60_000),
    ).rejects.toMatchObject({
      code: "invalid-argument",
    });
    const grant = await storage.grant("job-4", "x", announced, 1000);
    await expect(
      uploadArtefact("job-4", target("x", grant), body, { now: () => grant.expiresAtMs + 1 }),
    ).rejects.toMatchObject({ code: "deadline-exceeded" });
    // Keys of other jobs are untouched by this job's URL.
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: "jobs/other/x", Body: "keep" }));
    expect(new URL(grant.url).pathname).toBe(`/${bucket}/uploads/job-4/x`);
  });
});
