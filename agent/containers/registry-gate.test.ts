import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { manifestProblem, openRegistryGate, registryBaseUrl } from "./registry-gate.ts";

describe("registryBaseUrl", () => {
  it.each([
    ["docker.io", [], "https://registry-1.docker.io"],
    ["ghcr.io", [], "https://ghcr.io"],
    ["127.0.0.1:5000", [], "http://127.0.0.1:5000"],
    ["localhost:5000", [], "http://localhost:5000"],
    ["10.0.0.7:5000", [], "https://10.0.0.7:5000"],
    ["10.0.0.7:5000", ["10.0.0.7:5000"], "http://10.0.0.7:5000"],
  ] as const)("%s %j -> %s", (registry, insecure, url) => {
    expect(registryBaseUrl(registry, insecure)).toBe(url);
  });
});

describe("manifestProblem", () => {
  const layer = (size: number, extra: Record<string, unknown> = {}) => ({
    mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
    digest: `sha256:${"a".repeat(64)}`,
    size,
    ...extra,
  });
  const manifest = (layers: unknown[]) => ({ schemaVersion: 2, config: { size: 1000 }, layers });

  it("accepts an image within the limit and reports what it declares", () => {
    expect(manifestProblem(manifest([layer(4000), layer(5000)]), 20_000)).toEqual({ declared: 10_000 });
  });

  it("lets an index through: the platform manifest the engine picks is checked next", () => {
    expect(manifestProblem({ schemaVersion: 2, manifests: [{}] }, 1)).toEqual({ declared: 0 });
  });

  it.each([
    [
      "compressed layers over the limit",
      manifest([layer(15_000), layer(6000)]),
      /declares 22\.0 kB of compressed layers/,
    ],
    [
      "a declared unpacked size over the limit",
      manifest([layer(10, { annotations: { "io.containers.estargz.uncompressed-size": "50000" } })]),
      /declares 50\.0 kB unpacked/,
    ],
    [
      "foreign layers fetched around the registry",
      manifest([layer(10, { urls: ["https://elsewhere/x"] })]),
      /foreign layers/,
    ],
    ["a layer without a size", manifest([layer(Number.NaN)]), /no valid size/],
    ["schema 1 (no sizes)", { schemaVersion: 1, fsLayers: [] }, /declares no layer sizes/],
  ])("refuses %s", (_what, m, problem) => {
    expect(manifestProblem(m, 20_000).problem).toMatch(problem);
  });
});

describe("openRegistryGate", () => {
  // A registry that wants a bearer token, as Docker Hub and ghcr do: the gate must pass the
  // challenge to the engine and the engine's token back, untouched.
  let upstream: Server;
  let registry: string;
  const seen: string[] = [];
  beforeAll(async () => {
    upstream = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? "-"}`);
      if (req.headers.authorization !== "Bearer t0ken") {
        res.writeHead(401, { "www-authenticate": 'Bearer realm="https://auth.example/token",service="reg"' });
        return void res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      }
      const body = JSON.stringify({ schemaVersion: 2, config: { size: 10 }, layers: [{ size: 20 }] });
      res.writeHead(200, {
        "content-type": "application/vnd.oci.image.manifest.v1+json",
        "docker-content-digest": "sha256:x",
      });
      res.end(body);
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    registry = `127.0.0.1:${(upstream.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => upstream.close(() => resolve())));

  it("passes the auth challenge and the engine's token through, and checks the manifest", async () => {
    const gate = await openRegistryGate({ registry, maxBytes: 1000 });
    try {
      const path = `/v2/team/app/manifests/sha256:${"b".repeat(64)}`;
      const challenged = await fetch(`http://${gate.host}${path}`);
      expect(challenged.status).toBe(401);
      expect(challenged.headers.get("www-authenticate")).toBe(
        'Bearer realm="https://auth.example/token",service="reg"',
      );
      const served = await fetch(`http://${gate.host}${path}`, {
        headers: { authorization: "Bearer t0ken" },
      });
      expect(served.status).toBe(200);
      expect(served.headers.get("docker-content-digest")).toBe("sha256:x");
      expect(await served.json()).toMatchObject({ layers: [{ size: 20 }] });
      expect(gate.stats().declared).toBe(30);
      expect(gate.refusal()).toBeUndefined();
      expect(seen.at(-1)).toBe(`GET ${path} Bearer t0ken`);
    } finally {
      await gate.close();
    }
  });

  it("refuses everything after a refusal, with the registry API's error shape", async () => {
    const gate = await openRegistryGate({ registry, maxBytes: 5 });
    try {
      const path = `/v2/team/app/manifests/sha256:${"b".repeat(64)}`;
      const refused = await fetch(`http://${gate.host}${path}`, {
        headers: { authorization: "Bearer t0ken" },
      });
      expect(refused.status).toBe(403);
      expect(await refused.json()).toEqual({
        errors: [{ code: "DENIED", message: expect.stringMatching(/^cacheon: its manifest declares 30 B/) }],
      });
      expect((await fetch(`http://${gate.host}/v2/`)).status).toBe(403);
      expect(gate.refusal()?.code).toBe("resource-exhausted");
    } finally {
      await gate.close();
    }
  });
});
