import { describe, expect, it } from "vitest";
import { armContainerSpec, containerLabels, defaultArmLimits } from "./arm-container-spec.ts";

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
    expect(h.Tmpfs).toHaveProperty("/tmp");
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

  it("does not let caller labels override the agent's own", () => {
    const spec = armContainerSpec({ ...base, labels: { [containerLabels.job]: "other" } });
    expect(spec.Labels?.[containerLabels.job]).toBe("j1");
  });
});
