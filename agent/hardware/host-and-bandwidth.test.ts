import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testServices } from "../../test/support/services.ts";
import { parseBandwidthOutput } from "./bandwidth-check.ts";
import { collectHostFacts, freeBytesFor, hasNvidiaContainerRuntime } from "./collect-host-facts.ts";
import { demuxDockerLogs, dockerBandwidthRunner } from "./gpu-script-runners.ts";

const fixtures = join(import.meta.dirname, "..", "..", "test", "fixtures", "nvidia-smi");
const captured = readFileSync(join(fixtures, "h200-x2-firecracker", "bandwidth.jsonl"), "utf8")
  .split("\n")
  .filter((l) => l.startsWith("{"));

describe("parseBandwidthOutput on the script's real output from 2x H200", () => {
  it("reads every captured run and applies the threshold", () => {
    const runs = captured.filter((l) => l.includes('"ok": true'));
    expect(runs).toHaveLength(7);
    const check = parseBandwidthOutput(runs[0] ?? "", 315);
    expect(check.ok).toBe(true);
    expect(check.bytesPerCopy).toBe(1073741824n);
    expect(check.pairs.map((p) => [p.src, p.dst, p.gbPerS])).toEqual([
      [0, 1, 393.277],
      [1, 0, 392.936],
    ]);
    expect(parseBandwidthOutput(runs[0] ?? "", 400).ok).toBe(false);
  });

  it("reads the one-GPU same-device run as a 0->0 pair", () => {
    const same = captured.find((l) => l.includes("same-device")) ?? "";
    expect(parseBandwidthOutput(same, 0).pairs.map((p) => [p.src, p.dst])).toEqual([[0, 0]]);
  });

  it("turns the script's own error into unavailable, and junk into invalid-argument", () => {
    const error = captured.find((l) => l.includes('"ok": false')) ?? "";
    expect(() => parseBandwidthOutput(error, 315)).toThrow(
      /could not measure: --pairs item '0:9' names a GPU outside 0..1/,
    );
    expect(() => parseBandwidthOutput("", 315)).toThrow(/printed no JSON/);
    expect(() => parseBandwidthOutput("Traceback (most recent call last):", 315)).toThrow(/printed no JSON/);
    expect(() => parseBandwidthOutput('{"ok": true, "bytes_per_copy": 1, "pairs": []}', 315)).toThrow(
      /no pairs/,
    );
    expect(() =>
      parseBandwidthOutput('{"ok": true, "bytes_per_copy": 1, "pairs": [{"src": 0}]}', 315),
    ).toThrow(/pair 0 is malformed/);
  });
});

describe("the bandwidth script itself (python3 without PyTorch here)", () => {
  it("prints a JSON reason and exits 2 where PyTorch is missing", () => {
    const script = join(import.meta.dirname, "gpu-scripts", "gpu_copy_bandwidth.py");
    let out = "";
    let code = 0;
    try {
      out = execFileSync("python3", [script], {
        encoding: "utf8",
        env: { PATH: process.env.PATH, PYTHONPATH: "/nonexistent" },
      });
    } catch (error) {
      const e = error as { status: number; stdout: string };
      code = e.status;
      out = e.stdout;
    }
    expect(code).toBe(2);
    expect(() => parseBandwidthOutput(out, 315)).toThrow(/PyTorch is not importable|CUDA is not available/);
  });
});

describe("host facts", () => {
  it("detects the NVIDIA runtime from Runtimes or CDI devices", () => {
    expect(hasNvidiaContainerRuntime({ Runtimes: { runc: {}, nvidia: {} } })).toBe(true);
    expect(
      hasNvidiaContainerRuntime({ DiscoveredDevices: [{ Source: "cdi", ID: "nvidia.com/gpu=all" }] }),
    ).toBe(true);
    expect(hasNvidiaContainerRuntime({ Runtimes: { runc: {} } })).toBe(false);
    expect(hasNvidiaContainerRuntime({})).toBe(false);
  });

  it("picks the longest mount holding the path", () => {
    const mounts = [
      { mount: "/", available: 1 },
      { mount: "/var", available: 2 },
      { mount: "/var/lib/docker", available: 3 },
      { mount: "/var/lib/dockerx", available: 4 },
    ];
    expect(freeBytesFor("/var/lib/docker", mounts)).toBe(3);
    expect(freeBytesFor("/var/lib/docker/overlay2", mounts)).toBe(3);
    expect(freeBytesFor("/srv", mounts)).toBe(1);
    expect(freeBytesFor("/srv", [])).toBe(0);
  });

  it("reads this machine and the real Docker engine", async () => {
    const docker = new Dockerode({ socketPath: testServices().dockerSocket });
    const host = await collectHostFacts({ docker });
    expect(host.dockerVersion).toBe((await docker.version()).Version);
    expect(host.cpuLogicalCores).toBeGreaterThan(0);
    expect(host.memoryTotalBytes).toBeGreaterThan(0n);
    expect(host.kernel).not.toBe("");
    expect(host.dockerDiskFreeBytes).toBeGreaterThan(0n);
  });

  it("leaves Docker facts empty when the engine does not answer", async () => {
    const host = await collectHostFacts({
      docker: new Dockerode({ socketPath: "/nonexistent/docker.sock" }),
    });
    expect(host.dockerVersion).toBe("");
    expect(host.nvidiaContainerRuntime).toBe(false);
  });
});

describe("dockerBandwidthRunner against the real Docker engine", () => {
  const docker = new Dockerode({ socketPath: testServices().dockerSocket });
  const image = "cacheon-test/hardware-empty:1";
  beforeAll(() => {
    // An empty image: enough to create a container, so the engine's GPU request is what fails.
    execFileSync(
      "sh",
      ["-c", `tar cf - -T /dev/null | docker import -c 'LABEL cacheon.test=hardware' - ${image}`],
      {
        env: { ...process.env, DOCKER_HOST: `unix://${testServices().dockerSocket}` },
      },
    );
  });
  afterAll(async () => {
    const leftovers = await docker.listContainers({
      all: true,
      filters: { label: ["cacheon.role=hardware-bandwidth"], ancestor: [image] },
    });
    for (const c of leftovers) await docker.getContainer(c.Id).remove({ force: true });
    await docker
      .getImage(image)
      .remove({ force: true })
      .catch(() => {});
  });

  it("says the image must be pulled when it is not there", async () => {
    const run = dockerBandwidthRunner({ docker, image: "cacheon-test/hardware-missing:0" });
    await expect(run({ script: "gpu_copy_bandwidth.py" })).rejects.toMatchObject({
      code: "not-found",
      message: expect.stringMatching(/pull the baseline image/),
    });
  });

  it("says the NVIDIA Container Toolkit is missing when Docker cannot give GPUs, and leaves no container", async () => {
    const run = dockerBandwidthRunner({ docker, image });
    await expect(run({ script: "gpu_copy_bandwidth.py" })).rejects.toMatchObject({
      code: "failed-precondition",
      message: expect.stringMatching(/NVIDIA Container Toolkit/),
    });
    const left = await docker.listContainers({ all: true, filters: { ancestor: [image] } });
    expect(left).toEqual([]);
  });

  it("demultiplexes Docker's log frames", () => {
    const frame = (stream: number, text: string) => {
      const body = Buffer.from(text);
      const header = Buffer.alloc(8);
      header[0] = stream;
      header.writeUInt32BE(body.length, 4);
      return Buffer.concat([header, body]);
    };
    const raw = Buffer.concat([
      frame(1, '{"ok":'),
      frame(2, "warn\n"),
      frame(1, " true}"),
      Buffer.from([1, 0]),
    ]);
    expect(demuxDockerLogs(raw)).toEqual({ stdout: '{"ok": true}', stderr: "warn\n" });
  });
});
