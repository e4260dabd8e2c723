import { create } from "@bufbuild/protobuf";
import { type HardwareFailure, HardwareFailureSchema } from "../../shared/gen/cacheon/v1/hardware_pb.ts";
import knownDriverBuildsData from "./known-driver-builds.json" with { type: "json" };
import type { HardwareProfile } from "./profiles.ts";

/** sha256 (hex) of NVIDIA's own files, per driver version, as seen on real machines. */
export interface KnownDriverBuild {
  "nvidia-smi": string[];
  "libnvidia-ml": string[];
  /** Where and when each hash was captured. */
  seen: string[];
}

/** The allow-list shipped with the agent (agent/hardware/known-driver-builds.json). */
export const knownDriverBuilds: Readonly<Record<string, KnownDriverBuild>> = knownDriverBuildsData;

/** What the probe found out about the GPU software on this machine: the input of {@link checkDriverSoftware}. */
export interface DriverSoftwareFacts {
  /** Absolute path of the nvidia-smi run; "" when none was found. */
  nvidiaSmiPath: string;
  nvidiaSmiSha256: string;
  /** True when that file is an ELF executable (not a script in front of the real one). */
  nvidiaSmiIsElf: boolean;
  /** The caller accepted a non-ELF nvidia-smi on purpose (replays of captures in tests). */
  replayAllowed: boolean;
  /** Absolute path of libnvidia-ml.so.1 as the loader resolves it; "" when not found. */
  nvmlLibraryPath: string;
  nvmlLibrarySha256: string;
  /** Driver versions the GPUs report. */
  driverVersions: string[];
  /** `nv-fabricmanager --version`; "" when Fabric Manager is not installed here. */
  fabricManagerVersion: string;
}

/** What {@link checkDriverSoftware} decided. */
export interface DriverSoftwareVerdict {
  /** Rules the profile enforces that failed. */
  failures: HardwareFailure[];
  /** What looked wrong without failing a rule of the profile. */
  findings: HardwareFailure[];
  /** Both hashes are on the allow-list for the (single) driver version reported. */
  knownBuild: boolean;
}

/**
 * Checks the GPU software: nvidia-smi must be a real ELF executable (a shell script in front of it
 * can print any capture), its sha256 and NVML's must be a build the allow-list knows for the driver
 * version (unknown: a finding, or a failure when the profile sets `requireKnownDriverBuild`), and
 * Fabric Manager's version must equal the driver's where both are reported. Pure.
 */
export function checkDriverSoftware(
  facts: DriverSoftwareFacts,
  profile: HardwareProfile,
  allowList: Readonly<Record<string, KnownDriverBuild>> = knownDriverBuilds,
): DriverSoftwareVerdict {
  const failures: HardwareFailure[] = [];
  const findings: HardwareFailure[] = [];
  const entry = (rule: string, subject: string, detail: string) =>
    create(HardwareFailureSchema, { rule, subject, detail });
  const needsGpus = (profile.gpuCount ?? 0) > 0;
  if (facts.nvidiaSmiPath === "") return { failures, findings, knownBuild: false };

  if (!facts.nvidiaSmiIsElf) {
    const what = `${facts.nvidiaSmiPath} is not an ELF executable (a script or wrapper in front of NVIDIA's nvidia-smi can print any capture)`;
    if (facts.replayAllowed) {
      findings.push(
        entry(
          "nvidia-smi-replay",
          "host",
          `${what}; accepted because an nvidia-smi replay was allowed: this report proves nothing about real GPUs`,
        ),
      );
    } else if (needsGpus) {
      failures.push(entry("nvidia-smi-binary", "host", `${what}: run the driver's own nvidia-smi`));
    } else {
      findings.push(entry("nvidia-smi-binary", "host", what));
    }
  }

  const versions = [...new Set(facts.driverVersions)].filter((v) => v !== "");
  const version = versions.length === 1 ? versions[0] : undefined;
  const known = version === undefined ? undefined : allowList[version];
  const smiKnown = known?.["nvidia-smi"].includes(facts.nvidiaSmiSha256) ?? false;
  const nvmlKnown = known?.["libnvidia-ml"].includes(facts.nvmlLibrarySha256) ?? false;
  const knownBuild = smiKnown && nvmlKnown;
  if (!knownBuild && !facts.replayAllowed) {
    const unknown = [
      ...(smiKnown ? [] : [`nvidia-smi ${facts.nvidiaSmiSha256 || "(not hashed)"}`]),
      ...(nvmlKnown ? [] : [`libnvidia-ml ${facts.nvmlLibrarySha256 || "(not found)"}`]),
    ].join(", ");
    const detail =
      version === undefined
        ? `no single driver version to look up (${versions.join(", ") || "none reported"}); ${unknown} unchecked`
        : known === undefined
          ? `driver ${version} is not on the allow-list of NVIDIA builds (${Object.keys(allowList).join(", ")}): ${unknown} unchecked; capture its hashes from a trusted machine into agent/hardware/known-driver-builds.json`
          : `driver ${version}: ${unknown} is not a build the allow-list knows: a modified or wrapped NVIDIA tool, or a build not yet recorded`;
    (profile.requireKnownDriverBuild ? failures : findings).push(entry("driver-build", "host", detail));
  }

  if (facts.fabricManagerVersion !== "" && version !== undefined && facts.fabricManagerVersion !== version) {
    failures.push(
      entry(
        "fabric-manager-version",
        "host",
        `Fabric Manager ${facts.fabricManagerVersion} runs with driver ${version}: they must be the same version (install nvidia-fabricmanager-${version.split(".")[0]} matching the driver and restart it)`,
      ),
    );
  }
  return { failures, findings, knownBuild };
}
