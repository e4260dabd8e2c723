import { describe, expect, it } from "vitest";
import { armContainerSpec, containerLabels, defaultArmLimits, volumeTargets } from "./arm-container-spec.ts";

const base = {
  name: "c1",
  image: `127.0.0.1:5000/x@sha256:${"a".repeat(64)}`,
  jobId: "j1",
  armId: "a0",
  network: { kind: "internal" as const, network: "net1" },
  gpus: "none" as const,
};

describe("armContainerSpec", () => {
  it("isolates by default with the subnet's limits", () => {
    const spec = armContainerSpec({ ...base, modelDir: "/models/qwen" });
    const h = spec.HostConfig ?? {};
    expect(h.CapDrop).toEqual(["ALL"]);
    expect(h.SecurityOpt).toEqual(["no-new-privileges"]);
    expect(h.Privileged).toBe(false);
    expect(h.Init).toBe(true);
    expect(h.ReadonlyRootfs).toBe(true);
    expect(h.Tmpfs).toEqual({ "/tmp": `rw,exec,nosuid,nodev,size=${1024 ** 3}` });
    expect(h.Memory).toBe(defaultArmLimits.memoryBytes);
    expect(h.MemorySwap).toBe(h.Memory);
    expect(h.PidsLimit).toBe(4096);
    expect(h.ShmSize).toBe(16 * 1024 ** 3);
    expect(h.NanoCpus).toBe(32e9);
    expect(h.Ulimits).toContainEqual({ Name: "core", Soft: 0, Hard: 0 });
    expect(h.Mounts).toEqual([{ Type: "bind", Source: "/models/qwen", Target: "/model", ReadOnly: true }]);
    expect(h.Binds).toEqual([]);
    expect(h.NetworkMode).toBe("net1");
    expect(h.DeviceRequests).toBeUndefined();
    expect(spec.NetworkingConfig?.EndpointsConfig).toHaveProperty("net1");
    expect(spec.Labels).toMatchObject({ [containerLabels.job]: "j1", [containerLabels.arm]: "a0" });
    expect(spec.Env).toContain("PORT=8000");
  });

  it("asks for every GPU, or only the listed ones", () => {
    expect(armContainerSpec({ ...base, gpus: "all" }).HostConfig?.DeviceRequests).toEqual([
      { Driver: "nvidia", Count: -1, Capabilities: [["gpu"]] },
    ]);
    expect(
      armContainerSpec({ ...base, gpus: { uuids: ["GPU-1", "GPU-2"] } }).HostConfig?.DeviceRequests,
    ).toEqual([{ Driver: "nvidia", DeviceIDs: ["GPU-1", "GPU-2"], Capabilities: [["gpu"]] }]);
  });

  it("mounts nothing without a model directory, and uses the host network only when asked", () => {
    const spec = armContainerSpec({ ...base, network: { kind: "host" }, port: 9000 });
    expect(spec.HostConfig?.Mounts).toEqual([]);
    expect(spec.HostConfig?.NetworkMode).toBe("host");
    expect(spec.NetworkingConfig).toBeUndefined();
    expect(spec.Env).toContain("PORT=9000");
  });

  it("keeps a writable root without a /tmp tmpfs when read-only is turned off", () => {
    const spec = armContainerSpec({ ...base, limits: { readOnlyRootfs: false } });
    expect(spec.HostConfig?.ReadonlyRootfs).toBe(false);
    expect(spec.HostConfig?.Tmpfs).toEqual({});
  });

  it("keeps the image's entrypoint and command unless the arm replaces them", () => {
    const own = armContainerSpec(base);
    expect(own).not.toHaveProperty("Entrypoint");
    expect(own).not.toHaveProperty("Cmd");
    const launched = armContainerSpec({
      ...base,
      cmd: ["python3", "-m", "vllm.entrypoints.openai.api_server"],
      args: ["--model", "/model", "--port", "8000"],
      env: ["HOME=/cacheon/home"],
    });
    expect(launched.Entrypoint).toEqual(["python3", "-m", "vllm.entrypoints.openai.api_server"]);
    expect(launched.Cmd).toEqual(["--model", "/model", "--port", "8000"]);
    expect(launched.Env).toEqual(["PORT=8000", "HOME=/cacheon/home"]);
    // Arguments alone keep the entrypoint (vLLM's `vllm serve`).
    const argsOnly = armContainerSpec({ ...base, args: ["--max-logprobs", "20"] });
    expect(argsOnly).not.toHaveProperty("Entrypoint");
    expect(argsOnly.Cmd).toEqual(["--max-logprobs", "20"]);
  });

  it("gives the caches executable, size-capped tmpfs dirs and every declared VOLUME a tmpfs", () => {
    const spec = armContainerSpec({
      ...base,
      modelDir: "/models/qwen",
      writableDirs: [{ path: "/cacheon/triton", sizeBytes: 64 * 1024 ** 2 }],
      imageVolumes: ["/data", "/data/", "/tmp", "/model", "/cacheon/triton", "/var/lib/../log"],
      limits: { volumeBytes: 8 * 1024 ** 2 },
    });
    expect(spec.HostConfig?.Tmpfs).toEqual({
      "/tmp": `rw,exec,nosuid,nodev,size=${1024 ** 3}`,
      "/cacheon/triton": `rw,exec,nosuid,nodev,size=${64 * 1024 ** 2}`,
    });
    const volume = (target: string) => ({
      Type: "tmpfs",
      Source: "",
      Target: target,
      TmpfsOptions: { SizeBytes: 8 * 1024 ** 2, Mode: 0o1777 },
    });
    expect(spec.HostConfig?.Mounts).toEqual([
      { Type: "bind", Source: "/models/qwen", Target: "/model", ReadOnly: true },
      volume("/data"),
      volume("/var/log"),
    ]);
  });

  it("volumeTargets normalises, deduplicates and skips covered paths and the root", () => {
    expect(volumeTargets(["/b/./c", "/a", "/a/", "//a", "/", "/x"], { "/x": "" }, ["/model"])).toEqual([
      "/a",
      "/b/c",
    ]);
  });

  it("does not let caller labels override the agent's own", () => {
    const spec = armContainerSpec({ ...base, labels: { [containerLabels.job]: "other" } });
    expect(spec.Labels?.[containerLabels.job]).toBe("j1");
  });
});
