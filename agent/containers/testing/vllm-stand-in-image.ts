import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type Docker from "dockerode";
import { pack } from "tar-stream";
import { followProgress } from "../follow-progress.ts";
import { pushTestImage, testLabel } from "./node-test-image.ts";

/** Where the stand-in's script lives in the image: beside the sim sources it imports. */
const entry = "/app/agent/containers/testing/vllm-stand-in.ts";

/**
 * Builds the vLLM stand-in (vllm-stand-in.ts) on top of the sim-llm baseline image `simBaseline`
 * (pulled by digest from the test registry, as the sim images are built offline) and pushes it to
 * `registry`. Built once per content. Returns `registry/cacheon-test/vllm-stand-in@sha256:...`.
 */
export async function buildVllmStandInImage(
  docker: Docker,
  simBaseline: string,
  registry: string,
): Promise<string> {
  const script = readFileSync(join(import.meta.dirname, "vllm-stand-in.ts"));
  const dockerfile = [
    `FROM ${simBaseline}`,
    `COPY vllm-stand-in.ts ${entry}`,
    `LABEL ${testLabel}=vllm-stand-in`,
    // vLLM's image runs `vllm serve` and takes everything else as arguments; so does this one.
    `ENTRYPOINT ["/usr/local/bin/node", "--disable-warning=ExperimentalWarning", "${entry}"]`,
    "",
  ].join("\n");
  const tag = `cacheon-test/vllm-stand-in:${createHash("sha256").update(dockerfile).update(script).digest("hex").slice(0, 16)}`;
  const exists = await docker
    .getImage(tag)
    .inspect()
    .then(
      () => true,
      () => false,
    );
  if (!exists) {
    const archive = pack();
    archive.entry({ name: "Dockerfile", mtime: new Date(0) }, dockerfile);
    archive.entry({ name: "vllm-stand-in.ts", mtime: new Date(0), mode: 0o644 }, script);
    archive.finalize();
    const stream = await docker.buildImage(archive as unknown as NodeJS.ReadableStream, {
      t: tag,
      labels: { [testLabel]: "vllm-stand-in" },
    });
    await followProgress(docker, stream);
  }
  return pushTestImage(docker, tag, `${registry}/${tag}`);
}
