import { mkdtempSync, readdirSync, statSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testServices } from "../../test/support/services.ts";
import { type ArmContainer, type StartArmContainerOptions, startArmContainer } from "./arm-container.ts";
import type { ArmLimits, NetworkMode } from "./arm-container-spec.ts";
import { createJobNetwork, type JobNetwork, removeJobObjects } from "./job-network.ts";
import { buildHostileImage } from "./testing/hostile-image.ts";
import { testLabel } from "./testing/node-test-image.ts";
import { NotReadyError, waitForReady } from "./wait-ready.ts";

const docker = new Docker({ socketPath: testServices().dockerSocket });
const jobId = `test-containers-${process.pid}`;
const owner = `test-containers-${process.pid}`;
const mib = 1024 * 1024;
const small: ArmLimits = {
  memoryBytes: 256 * mib,
  cpus: 1,
  pidsLimit: 64,
  shmBytes: 16 * mib,
  tmpBytes: 8 * mib,
  nofile: 4096,
};

let image: string;
let volumeImage: string;
let network: JobNetwork;
let modelDir: string;
let counter = 0;
const started: ArmContainer[] = [];

beforeAll(async () => {
  image = await buildHostileImage(docker);
  volumeImage = await buildHostileImage(docker, undefined, { volumes: ["/data"] });
  network = await createJobNetwork({ docker, jobId, owner, labels: { [testLabel]: "containers" } });
  modelDir = mkdtempSync(join(tmpdir(), "cacheon-model-"));
});

afterAll(async () => {
  for (const c of started) await c.teardown(0);
  await network?.remove();
  const left = await removeJobObjects({ docker, jobId });
  expect(left).toEqual({ containers: 0, networks: 0 });
});

async function start(
  mode: string,
  options: {
    limits?: ArmLimits;
    network?: NetworkMode;
    env?: string[];
    image?: string;
    launch?: Pick<StartArmContainerOptions, "cmd" | "args" | "writableDirs" | "imageVolumes">;
  } = {},
) {
  const c = await startArmContainer({
    ...options.launch,
    docker,
    name: `${jobId}-${++counter}`,
    image: options.image ?? image,
    jobId,
    armId: `a${counter}`,
    network: options.network ?? { kind: "internal", network: network.name },
    gpus: "none",
    modelDir,
    limits: { ...small, ...options.limits },
    env: [`HOSTILE_MODE=${mode}`, ...(options.env ?? [])],
    labels: { [testLabel]: "containers" },
  });
  started.push(c);
  return c;
}

function ready(c: ArmContainer, timeoutMs = 20_000) {
  return waitForReady({
    endpoint: c.endpoint,
    timeoutMs,
    model: "hostile",
    intervalMs: 100,
    isRunning: c.exitState,
  });
}

async function state(c: ArmContainer): Promise<Record<string, unknown>> {
  return (await (await fetch(`${c.endpoint}/state`)).json()) as Record<string, unknown>;
}

/** An IPv4 address of this host outside Docker's bridges: "outside" as far as a container is concerned. */
function hostAddress(): string {
  for (const [name, addresses] of Object.entries(networkInterfaces())) {
    if (name === "lo" || name.startsWith("docker") || name.startsWith("br-") || name.startsWith("veth"))
      continue;
    const v4 = addresses?.find((a) => a.family === "IPv4" && !a.internal);
    if (v4) return v4.address;
  }
  throw new Error("no non-loopback IPv4 address on this host to probe egress with");
}

async function listen(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve));
  return { server, port: (server.address() as { port: number }).port };
}

async function egressFrom(c: ArmContainer): Promise<string> {
  for (let i = 0; i < 50; i++) {
    const egress = (await state(c)).egress as string;
    if (egress !== "unknown") return egress;
    await sleep(100);
  }
  return "unknown";
}

describe("arm containers on the real Docker engine", () => {
  it("runs with the isolation in force, as inspecting the container shows", async () => {
    const c = await start("serve");
    expect(await ready(c)).toBeGreaterThan(0);
    const info = await docker.getContainer(c.id).inspect();
    const host = info.HostConfig;
    expect(host.CapDrop).toEqual(["ALL"]);
    expect(host.CapAdd ?? []).toEqual([]);
    expect(host.SecurityOpt).toEqual(["no-new-privileges"]);
    expect(host.Privileged).toBe(false);
    expect(host.PidsLimit).toBe(64);
    expect(host.Memory).toBe(256 * mib);
    expect(host.MemorySwap).toBe(host.Memory);
    expect(host.ShmSize).toBe(16 * mib);
    expect(host.ReadonlyRootfs).toBe(true);
    expect(host.Init).toBe(true);
    expect(host.Ulimits).toEqual(
      expect.arrayContaining([
        { Name: "nofile", Soft: 4096, Hard: 4096 },
        { Name: "core", Soft: 0, Hard: 0 },
      ]),
    );
    expect(host.LogConfig).toEqual({ Type: "json-file", Config: { "max-size": "50m", "max-file": "2" } });
    expect(host.DeviceRequests ?? []).toEqual([]);
    expect(host.NetworkMode).toBe(network.name);
    // Only the model directory is mounted, read-only; never the Docker socket.
    expect(info.Mounts.map((m) => ({ source: m.Source, target: m.Destination, rw: m.RW }))).toEqual([
      { source: modelDir, target: "/model", rw: false },
    ]);
    expect(JSON.stringify(info)).not.toContain("docker.sock");
    const net = await docker.getNetwork(network.name).inspect();
    expect(net.Internal).toBe(true);
    expect(network.hostGuarded).toBe(true);
    // Seen from inside: root and model are read-only, the /tmp tmpfs is writable.
    const seen = await state(c);
    expect(seen.rootfsWritable).toBe("no: EROFS");
    expect(seen.modelWritable).toBe("no: EROFS");
    expect(seen.tmpWritable).toBe("yes");
  });

  it("lets a container on the job network reach neither the host's services nor the world, where a plain bridge can", async () => {
    const { server, port } = await listen();
    try {
      const env = [`HOSTILE_EGRESS_HOST=${hostAddress()}`, `HOSTILE_EGRESS_PORT=${port}`];
      const isolated = await start("serve,probe-egress", { env });
      await ready(isolated);
      // Nothing answers from outside: the host's own address is guarded, the world unrouted.
      expect(await egressFrom(isolated)).toMatch(/^(timeout|error ENETUNREACH|error EHOSTUNREACH)$/);

      // The control: the same probe on an ordinary bridge network gets through, so the probe can see egress.
      const open = await docker.createNetwork({
        Name: `${jobId}-open`,
        Labels: { "cacheon.job": jobId, [testLabel]: "containers" },
      });
      try {
        const leaky = await start("serve,probe-egress", {
          env,
          network: { kind: "internal", network: `${jobId}-open` },
        });
        await ready(leaky);
        expect(await egressFrom(leaky)).toBe("connected");
        await leaky.teardown(0);
      } finally {
        await open.remove().catch(() => {});
      }
    } finally {
      server.close();
    }
  });

  it("contains a VOLUME flood in a size-capped tmpfs: no anonymous volume on the host's disk", async () => {
    const c = await start("serve,fill-volume", {
      image: volumeImage,
      limits: { volumeBytes: 16 * mib },
      launch: { imageVolumes: ["/data"] },
    });
    await ready(c);
    let seen = await state(c);
    for (let i = 0; i < 100 && !seen.fillError; i++) {
      await sleep(100);
      seen = await state(c);
    }
    // The writer hit the tmpfs's cap, not the host's disk.
    expect(seen.fillError).toBe("ENOSPC");
    expect(seen.filled as number).toBeLessThanOrEqual(16 * mib);
    const info = await docker.getContainer(c.id).inspect();
    expect(info.Mounts.find((m) => m.Destination === "/data")?.Type).toBe("tmpfs");
    expect(info.Mounts.some((m) => m.Type === "volume")).toBe(false);
  });

  it("the control: without the tmpfs the engine puts the same VOLUME on the host's disk", async () => {
    const c = await start("serve", { image: volumeImage });
    await ready(c);
    const info = await docker.getContainer(c.id).inspect();
    expect(info.Mounts.find((m) => m.Destination === "/data")?.Type).toBe("volume");
  });

  it("runs an arm's own command and arguments with writable cache dirs; the root stays read-only", async () => {
    const c = await start("", {
      env: ["HOME=/cacheon/home", "TRITON_CACHE_DIR=/cacheon/triton"],
      launch: {
        cmd: ["/bin/node", "--disable-warning=ExperimentalWarning", "/app/hostile-server.ts"],
        args: ["--mode=serve,launch-report", "--served-model-name", "Qwen/Qwen2.5-72B-Instruct"],
        writableDirs: [
          { path: "/cacheon/home", sizeBytes: 4 * mib },
          { path: "/cacheon/triton", sizeBytes: 4 * mib },
        ],
      },
    });
    await ready(c);
    const seen = await state(c);
    expect(seen.argv).toEqual([
      "--mode=serve,launch-report",
      "--served-model-name",
      "Qwen/Qwen2.5-72B-Instruct",
    ]);
    expect(seen.writable).toEqual({
      "/cacheon/home": "yes",
      "/cacheon/triton": "yes",
      "/": "no: EROFS",
      "/tmp": "yes",
    });
  });

  it("gives up on a readiness reply that never ends after reading 64 KiB of it", async () => {
    const c = await start("huge-body");
    const heapBefore = process.memoryUsage().arrayBuffers;
    const error = await ready(c, 3000).catch((e: unknown) => e);
    expect((error as NotReadyError).kind).toBe("timeout");
    expect((error as Error).message).toMatch(/over 64 KiB; the rest was not read/);
    // The agent read a few polls' worth, not the body: the server could send little more than
    // its socket buffers before each probe was cut.
    const sent = (await state(c)).bodyBytesSent as number;
    expect(sent).toBeLessThan(64 * mib);
    expect(process.memoryUsage().arrayBuffers - heapBefore).toBeLessThan(64 * mib);
  });

  it("kills a container that ignores SIGTERM after the grace period and removes it", async () => {
    const c = await start("serve,ignore-sigterm");
    await ready(c);
    const t0 = Date.now();
    const { exit, log } = await c.teardown(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(log.text).toContain("SIGTERM ignored");
    expect(exit.running).toBe(false);
    expect(exit.exitCode).toBe(-1);
    await expect(docker.getContainer(c.id).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it("caps a container that floods its log, and the excerpt stays within 64 KiB", async () => {
    const c = await start("serve,flood-log", { limits: { logMaxSize: "1m", logMaxFiles: 2 } });
    await ready(c);
    const info = await docker.getContainer(c.id).inspect();
    const dir = dirname(info.LogPath);
    // Watched until the engine has rotated the log twice (the first rotated file replaced by a
    // second), however slowly a loaded engine copies it (on a loaded CI machine it had written
    // 6.5 kB after 2.5 s), the cap checked all along. A file may vanish between listing and stat.
    const statOf = (f: string) => {
      try {
        return statSync(join(dir, f));
      } catch {
        return undefined;
      }
    };
    const rotatedInodes = new Set<number>();
    let bytes = 0;
    for (let i = 0; i < 600 && rotatedInodes.size < 2; i++) {
      await sleep(100);
      const files = readdirSync(dir).filter((f) => f.includes("-json.log"));
      bytes = files.reduce((sum, f) => sum + (statOf(f)?.size ?? 0), 0);
      expect(files.length).toBeLessThanOrEqual(2);
      expect(bytes).toBeLessThanOrEqual(2 * 1.1 * mib);
      const rotated = files.find((f) => f.endsWith("-json.log.1"));
      const inode = rotated ? statOf(rotated)?.ino : undefined;
      if (inode !== undefined) rotatedInodes.add(inode);
    }
    expect(rotatedInodes.size, `the log did not rotate twice in 60 s (${bytes} bytes)`).toBe(2);
    const { log } = await c.teardown(0);
    expect(Buffer.byteLength(log.text)).toBeLessThanOrEqual(64 * 1024);
    expect(log.truncated).toBe(true);
    expect(log.text).toContain("flood flood");
  });

  it("holds a fork bomb to the pids limit and still removes it", async () => {
    const c = await start("serve,fork-bomb", { limits: { pidsLimit: 48, memoryBytes: 768 * mib } });
    await ready(c);
    // Sampled for 2 s after it has forked past 20 processes (which takes longer on a loaded
    // machine; at most 30 s): long enough for a bomb without the limit to pass 48.
    let peak = 0;
    let samplesSinceForked = 0;
    for (let i = 0; i < 120 && samplesSinceForked < 8; i++) {
      const stats = (await docker
        .getContainer(c.id)
        .stats({ stream: false, "one-shot": true } as { stream: false })) as {
        pids_stats?: { current?: number };
      };
      peak = Math.max(peak, stats.pids_stats?.current ?? 0);
      if (peak > 20) samplesSinceForked += 1;
      await sleep(250);
    }
    expect(peak).toBeGreaterThan(20); // it did fork
    expect(peak).toBeLessThanOrEqual(48);
    await c.teardown(1);
    await expect(docker.getContainer(c.id).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it("reports a container killed for memory as OOM", async () => {
    const c = await start("serve,oom", { limits: { memoryBytes: 160 * mib } });
    for (let i = 0; i < 100 && (await c.exitState()).running; i++) await sleep(100);
    const { exit } = await c.teardown(0);
    expect(exit.running).toBe(false);
    expect(exit.oomKilled).toBe(true);
    expect(exit.exitCode).toBe(137);
  });

  it("reports a container that exits before it is ready as exited, with its exit code", async () => {
    const c = await start("never-ready,crash", { env: ["HOSTILE_CRASH_MS=800"] });
    const error = await ready(c).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotReadyError);
    expect((error as NotReadyError).kind).toBe("exited");
    expect((error as Error).message).toMatch(/exited with code 3/);
    const { exit, log } = await c.teardown(0);
    expect(exit.exitCode).toBe(3);
    expect(log.text).toContain("crashing on purpose");
  });

  it("gives up on a server whose /health never turns 200, saying what it saw", async () => {
    const c = await start("never-ready");
    // Listening first (a loaded machine can take longer than the timeout to start Node): the
    // short wait below then sees the 503s, not a server that is not up yet.
    await expect
      .poll(
        () =>
          state(c).then(
            () => true,
            () => false,
          ),
        { timeout: 30_000 },
      )
      .toBe(true);
    const error = await ready(c, 1500).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotReadyError);
    expect((error as NotReadyError).kind).toBe("timeout");
    expect((error as Error).message).toContain("/health answered 503");
  });

  it("stops waiting when cancelled", async () => {
    const c = await start("never-ready");
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const error = await waitForReady({
      endpoint: c.endpoint,
      timeoutMs: 30_000,
      model: "x",
      isRunning: c.exitState,
      signal: controller.signal,
    }).catch((e: unknown) => e);
    expect((error as NotReadyError).kind).toBe("cancelled");
  });

  it("runs in host network mode on the given port when asked", async () => {
    const probe = await listen();
    const port = probe.port;
    probe.server.close();
    const h = await startArmContainer({
      docker,
      name: `${jobId}-host`,
      image,
      jobId,
      armId: "host",
      network: { kind: "host" },
      gpus: "none",
      port,
      limits: small,
      env: ["HOSTILE_MODE=serve"],
    });
    started.push(h);
    expect(h.endpoint).toBe(`http://127.0.0.1:${port}`);
    await ready(h);
    expect((await docker.getContainer(h.id).inspect()).HostConfig.NetworkMode).toBe("host");
  });
});
