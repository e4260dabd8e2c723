import { describe, expect, it } from "vitest";
import { checkDriverSoftware, type DriverSoftwareFacts, knownDriverBuilds } from "./check-driver-software.ts";
import { type HardwareProfile, loadHardwareProfile } from "./profiles.ts";

// The hashes the device tool's H200 machines gave (test/fixtures/nvidia-smi/nvidia-h200-x4-real/fingerprint.txt).
const realSmi = "4a384a7189c79d73897c4c0a1000e1e09e5eea6218d350061fd6babbb30ae29f";
const realNvml = "941c7f7999351d8b9b69f275a20ebd2818e3314678fc12dba6da8a6f12b74d27";
const real: DriverSoftwareFacts = {
  nvidiaSmiPath: "/usr/local/nvidia/bin/nvidia-smi",
  nvidiaSmiSha256: realSmi,
  nvidiaSmiIsElf: true,
  replayAllowed: false,
  nvmlLibraryPath: "/usr/local/nvidia/lib64/libnvidia-ml.so.580.159.04",
  nvmlLibrarySha256: realNvml,
  driverVersions: ["580.159.04"],
  fabricManagerVersion: "",
};
const h200x8 = loadHardwareProfile("h200x8");
const strict: HardwareProfile = { ...h200x8, requireKnownDriverBuild: true };
const rules = (facts: Partial<DriverSoftwareFacts>, profile = h200x8) => {
  const verdict = checkDriverSoftware({ ...real, ...facts }, profile);
  return {
    failures: verdict.failures.map((f) => f.rule),
    findings: verdict.findings.map((f) => f.rule),
    known: verdict.knownBuild,
  };
};

describe("checkDriverSoftware", () => {
  it("ships the builds captured on real machines for driver 580.159.04", () => {
    expect(knownDriverBuilds["580.159.04"]?.["nvidia-smi"]).toContain(realSmi);
    expect(knownDriverBuilds["580.159.04"]?.["libnvidia-ml"]).toContain(realNvml);
  });

  it.each<[string, Partial<DriverSoftwareFacts>, HardwareProfile, ReturnType<typeof rules>]>([
    ["the real machine", {}, strict, { failures: [], findings: [], known: true }],
    [
      "a wrapper script (not ELF) under a GPU profile",
      { nvidiaSmiIsElf: false, nvidiaSmiSha256: "ab".repeat(32) },
      h200x8,
      { failures: ["nvidia-smi-binary"], findings: ["driver-build"], known: false },
    ],
    [
      "a replay allowed on purpose",
      { nvidiaSmiIsElf: false, replayAllowed: true, nvidiaSmiSha256: "ab".repeat(32) },
      strict,
      { failures: [], findings: ["nvidia-smi-replay"], known: false },
    ],
    [
      "a rebuilt nvidia-smi: a finding by default",
      { nvidiaSmiSha256: "cd".repeat(32) },
      h200x8,
      { failures: [], findings: ["driver-build"], known: false },
    ],
    [
      "a rebuilt nvidia-smi under requireKnownDriverBuild",
      { nvidiaSmiSha256: "cd".repeat(32) },
      strict,
      { failures: ["driver-build"], findings: [], known: false },
    ],
    [
      "a swapped NVML (ld.so.cache pointed elsewhere)",
      { nvmlLibrarySha256: "ef".repeat(32) },
      strict,
      { failures: ["driver-build"], findings: [], known: false },
    ],
    [
      "NVML not found",
      { nvmlLibraryPath: "", nvmlLibrarySha256: "" },
      h200x8,
      { failures: [], findings: ["driver-build"], known: false },
    ],
    [
      "a driver the allow-list does not know",
      { driverVersions: ["570.133.20"] },
      h200x8,
      { failures: [], findings: ["driver-build"], known: false },
    ],
    [
      "two driver versions",
      { driverVersions: ["570.133.20", "580.159.04"] },
      strict,
      { failures: ["driver-build"], findings: [], known: false },
    ],
    [
      "Fabric Manager of another version",
      { fabricManagerVersion: "580.126.09" },
      h200x8,
      { failures: ["fabric-manager-version"], findings: [], known: true },
    ],
    [
      "Fabric Manager of the same version",
      { fabricManagerVersion: "580.159.04" },
      strict,
      { failures: [], findings: [], known: true },
    ],
    [
      "a non-ELF nvidia-smi under profile none",
      { nvidiaSmiIsElf: false },
      loadHardwareProfile("none"),
      { failures: [], findings: ["nvidia-smi-binary"], known: true },
    ],
  ])("%s", (_name, facts, profile, expected) => {
    expect(rules(facts, profile)).toEqual(expected);
  });

  it("names the unknown hashes and what to do", () => {
    const verdict = checkDriverSoftware({ ...real, driverVersions: ["570.133.20"] }, h200x8);
    expect(verdict.findings[0]?.detail).toBe(
      `driver 570.133.20 is not on the allow-list of NVIDIA builds (580.159.04): nvidia-smi ${realSmi}, libnvidia-ml ${realNvml} unchecked; capture its hashes from a trusted machine into agent/hardware/known-driver-builds.json`,
    );
  });

  it("checks nothing when no nvidia-smi was found", () => {
    expect(checkDriverSoftware({ ...real, nvidiaSmiPath: "" }, h200x8)).toEqual({
      failures: [],
      findings: [],
      knownBuild: false,
    });
  });
});
