import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { findLoaderOverrides } from "./find-loader-overrides.ts";
import { builtInProfileNames, loadHardwareProfile } from "./profiles.ts";

const tmp = mkdtempSync(join(tmpdir(), "cacheon-hw-profile-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
};

describe("loadHardwareProfile", () => {
  it("has h200x8, h100x8, the 4-GPU h200x4 and h100x4, and none built in", () => {
    expect(builtInProfileNames).toEqual(["h200x8", "h100x8", "h200x4", "h100x4", "none"]);
    expect(loadHardwareProfile("h200x8")).toMatchObject({
      minAllReduceBusGbPerS: 360,
      maxMemoryUsedMib: 1024,
    });
    expect(loadHardwareProfile("h200x4")).toMatchObject({
      gpuCount: 4,
      minAllReduceBusGbPerS: 283,
      gpuName: "NVIDIA H200",
    });
    expect(loadHardwareProfile("h100x4")).toMatchObject({ gpuCount: 4, gpuName: "NVIDIA H100 80GB HBM3" });
    expect(loadHardwareProfile("h200x8")).toMatchObject({
      gpuCount: 8,
      gpuName: "NVIDIA H200",
      pairConnection: "NV18",
      nvlinksPerGpu: 18,
    });
    expect(loadHardwareProfile("h100x8").gpuName).toBe("NVIDIA H100 80GB HBM3");
    expect(loadHardwareProfile("none").gpuCount).toBeUndefined();
  });

  it("returns a copy that callers may change", () => {
    loadHardwareProfile("h200x8").gpuCount = 1;
    expect(loadHardwareProfile("h200x8").gpuCount).toBe(8);
  });

  it("loads YAML and JSON files that extend a built-in", () => {
    const yaml = loadHardwareProfile(
      file("p.yaml", "extends: h200x8\ngpuCount: 4\ntrustedLibraryDirs: [/opt/site/lib]\n"),
    );
    expect(yaml).toMatchObject({
      gpuCount: 4,
      gpuName: "NVIDIA H200",
      trustedLibraryDirs: ["/opt/site/lib"],
    });
    const json = loadHardwareProfile(file("p.json", JSON.stringify({ gpuCount: 1, gpuName: "NVIDIA H200" })));
    expect(json).toMatchObject({ gpuCount: 1, gpuName: "NVIDIA H200" });
    expect(json.pairConnection).toBeUndefined();
  });

  it("reports every bad field of a file at once", () => {
    const path = file("bad.yaml", "extends: h999\ngpuCount: -1\nrequireMigOff: maybe\ncolour: blue\n");
    expect(() => loadHardwareProfile(path)).toThrow(/4 problems/);
    try {
      loadHardwareProfile(path);
    } catch (error) {
      const message = (error as Error).message;
      for (const part of [
        '"h999" is not one of',
        "below the minimum 0",
        "expected true or false",
        'unknown key "colour"',
      ]) {
        expect(message).toContain(part);
      }
    }
  });

  it("rejects unknown names and unreadable files", () => {
    expect(() => loadHardwareProfile("h300x8")).toThrow(
      /unknown hardware profile "h300x8": use one of h200x8, h100x8, h200x4, h100x4, none/,
    );
    expect(() => loadHardwareProfile(join(tmp, "missing.yaml"))).toThrow(/unknown hardware profile/);
    for (const inherited of ["toString", "constructor", "__proto__", "hasOwnProperty"]) {
      expect(() => loadHardwareProfile(inherited)).toThrow(`unknown hardware profile "${inherited}"`);
    }
    expect(() => loadHardwareProfile(file("broken.yaml", "gpuCount: [1,\n"))).toThrow(/not valid YAML/);
  });
});

describe("findLoaderOverrides", () => {
  it("finds nothing in a clean environment or an NVIDIA container's", () => {
    expect(findLoaderOverrides({ env: {} })).toEqual([]);
    expect(
      findLoaderOverrides({
        env: {
          LD_LIBRARY_PATH: "/usr/local/nvidia/lib64:/usr/local/nvidia/lib",
          LD_DEBUG: "libs",
          LD_BIND_NOW: "1",
        },
      }),
    ).toEqual([]);
    expect(findLoaderOverrides({ env: { LD_PRELOAD: "" }, preloadFile: "# nothing\n\n" })).toEqual([]);
  });

  it("refuses LD_PRELOAD, LD_AUDIT and LD_PROFILE whatever they name", () => {
    const found = findLoaderOverrides({
      env: { LD_PRELOAD: "/usr/lib/libc.so.6", LD_AUDIT: "a.so", LD_PROFILE: "libnvidia-ml.so.1" },
    });
    expect(found.map((o) => o.variable)).toEqual(["LD_PRELOAD", "LD_AUDIT", "LD_PROFILE"]);
  });

  it("refuses LD_LIBRARY_PATH entries outside trusted dirs, relative, empty or escaping with ..", () => {
    for (const value of [
      "/tmp/x",
      "lib",
      "/usr/lib::/usr/lib64",
      "/usr/lib/../../tmp",
      ":/usr/lib",
      "/usr/libfake",
    ]) {
      expect(
        findLoaderOverrides({ env: { LD_LIBRARY_PATH: value } }).map((o) => o.variable),
        value,
      ).toEqual(["LD_LIBRARY_PATH"]);
    }
    expect(
      findLoaderOverrides({
        env: { LD_LIBRARY_PATH: "/opt/site/lib" },
        trustedLibraryDirs: ["/opt/site/lib/"],
      }),
    ).toEqual([]);
  });

  it("refuses a system-wide preload list and names its entries", () => {
    const [found] = findLoaderOverrides({ env: {}, preloadFile: "# x\n/lib/libshim.so /lib/other.so\n" });
    expect(found).toMatchObject({ variable: "/etc/ld.so.preload", value: "/lib/libshim.so /lib/other.so" });
  });
});
