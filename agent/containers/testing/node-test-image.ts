import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import type Docker from "dockerode";
import { followProgress } from "../follow-progress.ts";

/** Label on every image and container the container tests create, for their own clean-up. */
export const testLabel = "cacheon.test";

/** Options of {@link buildNodeTestImage}. */
export interface NodeTestImageOptions {
  /** Engine to build with. */
  docker: Docker;
  /** Repository to tag the image with, e.g. "cacheon-test/hostile". */
  repository: string;
  /** Files to put at /app/<name>. */
  files: Record<string, string | Buffer>;
  /** Command the image runs. */
  cmd: string[];
  /** Value of the `cacheon.test` label. */
  area: string;
  /** Paths the image declares as VOLUME. */
  volumes?: string[];
}

/**
 * Builds (once per content) a FROM-scratch image holding only the Node binary this process runs,
 * the shared libraries it links and the given files: tests have no public registry to take a
 * base image from. Returns the image's tag.
 */
export async function buildNodeTestImage(options: NodeTestImageOptions): Promise<string> {
  const node = process.execPath;
  const libs = sharedLibraries(node);
  const hash = createHash("sha256");
  const nodeStat = statSync(node);
  hash.update(
    `${node}:${nodeStat.size}:${nodeStat.mtimeMs}\n${libs.join("\n")}\n${options.cmd.join(" ")}\n${(options.volumes ?? []).join(" ")}`,
  );
  for (const [name, content] of Object.entries(options.files).sort())
    hash.update(`${name}\0`).update(content);
  const tag = `${options.repository}:${hash.digest("hex").slice(0, 16)}`;
  try {
    await options.docker.getImage(tag).inspect();
    return tag;
  } catch {
    // Not built yet.
  }
  const { pack } = await import("tar-stream");
  const archive = pack();
  const copies: string[] = [];
  archive.entry({ name: "ctx/bin/node", mode: 0o755 }, readFileSync(node));
  copies.push("COPY ctx/bin/node /bin/node");
  for (const lib of libs) {
    archive.entry({ name: `ctx${lib}`, mode: 0o755 }, readFileSync(lib));
    copies.push(`COPY ctx${lib} ${lib}`);
  }
  for (const [name, content] of Object.entries(options.files)) {
    archive.entry({ name: `ctx/app/${name}`, mode: 0o644 }, content);
    copies.push(`COPY ctx/app/${name} /app/${name}`);
  }
  const dockerfile = [
    "FROM scratch",
    ...copies,
    `LABEL ${testLabel}=${options.area}`,
    "WORKDIR /app",
    "ENV PATH=/bin",
    "EXPOSE 8000",
    ...(options.volumes?.length ? [`VOLUME ${JSON.stringify(options.volumes)}`] : []),
    `CMD ${JSON.stringify(options.cmd)}`,
    "",
  ].join("\n");
  archive.entry({ name: "Dockerfile" }, dockerfile);
  archive.finalize();
  const stream = await options.docker.buildImage(archive as unknown as NodeJS.ReadableStream, {
    t: tag,
    labels: { [testLabel]: options.area },
  });
  await followProgress(options.docker, stream);
  return tag;
}

/** Pushes a local image to a registry on loopback and returns `registry/repo@sha256:...`. */
export async function pushTestImage(docker: Docker, localTag: string, registryTag: string): Promise<string> {
  await docker.getImage(localTag).tag({
    repo: registryTag.slice(0, registryTag.lastIndexOf(":")),
    tag: registryTag.slice(registryTag.lastIndexOf(":") + 1),
  });
  const registry = registryTag.slice(0, registryTag.indexOf("/"));
  const events = await followProgress(
    docker,
    await docker.getImage(registryTag).push({ authconfig: { serveraddress: registry } }),
  );
  const digest = events.map((e) => (e.aux as { Digest?: string } | undefined)?.Digest).find(Boolean);
  if (!digest) throw new Error(`push of ${registryTag} reported no digest`);
  return `${registryTag.slice(0, registryTag.lastIndexOf(":"))}@${digest}`;
}

/** Absolute paths of the shared libraries (and loader) a binary needs, from ldd. */
function sharedLibraries(binary: string): string[] {
  const out = execFileSync("ldd", [binary], { encoding: "utf8" });
  const paths = new Set<string>();
  for (const line of out.split("\n")) {
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (match?.[1]) paths.add(match[1]);
  }
  return [...paths].sort();
}
