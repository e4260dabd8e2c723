import { randomBytes } from "node:crypto";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import Docker from "dockerode";
import { describe, expect, it } from "vitest";
import { parseImageReference, pullReference, repoDigestName } from "../../shared/image/image-reference.ts";
import { testServices } from "../support/services.ts";

const services = testServices();
const docker = new Docker({ socketPath: services.dockerSocket });

/** Builds a one-file image from scratch: there is no public registry to take a base image from. */
async function buildTinyImage(tag: string, content: string): Promise<void> {
  const { pack } = await import("tar-stream");
  const archive = pack();
  archive.entry({ name: "Dockerfile" }, "FROM scratch\nCOPY hello.txt /hello.txt\n");
  archive.entry({ name: "hello.txt" }, content);
  archive.finalize();
  const stream = await docker.buildImage(archive as unknown as NodeJS.ReadableStream, { t: tag });
  await followOrThrow(stream);
}

/** Follows a Docker progress stream; an error inside the 200 stream is an error. */
function followOrThrow(stream: NodeJS.ReadableStream): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(stream, (error: Error | null, output: Array<Record<string, unknown>>) => {
      const failed = output?.find((event) => event.error || event.errorDetail);
      if (error) reject(error);
      else if (failed) reject(new Error(String(failed.error ?? JSON.stringify(failed.errorDetail))));
      else resolve(output);
    });
  });
}

describe("real test services", () => {
  it("pushes a tiny image to the local registry and pulls it back by digest with dockerode", async () => {
    const repo = `${services.registry}/smoke/tiny`;
    const tag = `${repo}:t${Date.now()}`;
    await buildTinyImage(tag, randomBytes(16).toString("hex"));
    const pushed = await followOrThrow(
      await docker.getImage(tag).push({ authconfig: { serveraddress: services.registry } }),
    );
    const digest = pushed.map((e) => (e.aux as { Digest?: string } | undefined)?.Digest).find(Boolean);
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);

    const image = parseImageReference(`${repo}@${digest}`);
    await docker.getImage(tag).remove({ force: true });
    await followOrThrow(await docker.pull(pullReference(image)));
    const inspected = await docker.getImage(pullReference(image)).inspect();
    expect(inspected.RepoDigests).toContain(`${repoDigestName(image)}@${digest}`);
    await docker.getImage(inspected.Id).remove({ force: true });
  });

  it("reports a pull of an unknown digest as an error", async () => {
    const missing = `${services.registry}/smoke/tiny@sha256:${"0".repeat(64)}`;
    await expect(docker.pull(missing).then(followOrThrow)).rejects.toThrow(/not found|unknown|manifest/i);
  });

  it("puts and gets an object through @aws-sdk/client-s3", async () => {
    const s3 = new S3Client({
      endpoint: services.s3.endpoint,
      region: services.s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: services.s3.accessKeyId, secretAccessKey: services.s3.secretAccessKey },
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
    const bucket = `smoke-${Date.now()}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const body = JSON.stringify({ hello: randomBytes(8).toString("hex") });
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: "a/b.json", Body: body, ContentType: "application/json" }),
    );
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "a/b.json" }));
    expect(await got.Body?.transformToString()).toBe(body);
  });
});
