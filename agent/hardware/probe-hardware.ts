import { readFile } from "node:fs/promises";
import { create } from "@bufbuild/protobuf";
import type Dockerode from "dockerode";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import {
  type BandwidthCheck,
  type Gpu,
  type HardwareFailure,
  type HardwareReport,
  HardwareReportSchema,
  type HostInfo,
  SoftwareFingerprintSchema,
} from "../../shared/gen/cacheon/v1/hardware_pb.ts";
import type { Logger } from "../../shared/log/logger.ts";
import { silentLogger } from "../../shared/log/logger.ts";
import { type BandwidthRunner, measureGpuBandwidth } from "./bandwidth-check.ts";
import { checkDriverSoftware } from "./check-driver-software.ts";
import { checkHardwareRules, type HardwareFacts } from "./check-hardware-rules.ts";
import { collectHostFacts } from "./collect-host-facts.ts";
import { findLoaderOverrides, type LoaderOverride } from "./find-loader-overrides.ts";
import { parseNvidiaSmiXml } from "./parse-nvidia-smi-xml.ts";
import { parseNvlinkStatus } from "./parse-nvlink-status.ts";
import { parseTopologyMatrix } from "./parse-topology-matrix.ts";
import { type HardwareProfile, loadHardwareProfile } from "./profiles.ts";
import { runNvidiaSmi } from "./run-nvidia-smi.ts";
import {
  isElfExecutable,
  readFabricManagerVersion,
  resolveExecutable,
  resolveNvmlLibrary,
  sha256File,
} from "./software-fingerprint.ts";

/** Options of {@link probeHardware}. */
export interface ProbeHardwareOptions {
  /** Built-in profile name ("h200x8", "h100x8", "none"), a profile file path, or a loaded profile. */
  profile: string | HardwareProfile;
  /** nvidia-smi to run: a name looked up on PATH or a path. @default "nvidia-smi" */
  nvidiaSmiPath?: string;
  /** Docker engine for host facts (version, runtimes, free space); Docker facts stay empty without it. */
  docker?: Dockerode | undefined;
  /** Environment checked for loader overrides and given (cleaned) to nvidia-smi. @default process.env */
  env?: Record<string, string | undefined>;
  /** Cancels the probe. */
  signal?: AbortSignal | undefined;
  /** Runs the active copy and all-reduce tests; they do not run when undefined. */
  runBandwidthCheck?: BandwidthRunner | undefined;
  /**
   * Accept an nvidia-smi that is not an ELF executable (a replay of captured output, for tests and
   * demos). The report shows it (`fingerprint.nvidiaSmiReplay` and a finding), and the controller
   * refuses such reports from pods. @default env CACHEON_ALLOW_NVIDIA_SMI_REPLAY === "1"
   */
  allowNvidiaSmiReplay?: boolean;
  /** Collect host facts (systeminformation, Docker). Host rules are skipped when false. @default true */
  collectHost?: boolean;
  /** System-wide preload list to inspect. @default "/etc/ld.so.preload" */
  preloadFilePath?: string;
  /** `ldconfig -p` output to resolve libnvidia-ml.so.1 from; read from ldconfig when undefined. */
  ldconfigOutput?: string;
  /** Called as each step starts, for progress bars. */
  onStep?: (step: string, index: number, total: number) => void;
  /** @default silentLogger */
  logger?: Logger;
  /** @default Date.now */
  now?: () => number;
}

/** Variables removed from nvidia-smi's environment whatever the profile says. */
const scrubbed = ["LD_PRELOAD", "LD_AUDIT", "LD_PROFILE"];

/**
 * Proves what the machine is: runs nvidia-smi (`-q -x`, `topo -m`, `nvlink -s`), hashes the
 * nvidia-smi binary and the NVML library it loads, looks for loader overrides, collects host
 * facts, optionally runs the copy-bandwidth test, and checks it all against the profile.
 * Throws `unavailable` (the CLI's exit 2) when it cannot tell: nvidia-smi missing or failing
 * under a profile that needs GPUs. A machine that does not meet the profile is not an error:
 * the report says `ok: false` and lists every failure.
 */
export async function probeHardware(options: ProbeHardwareOptions): Promise<HardwareReport> {
  const logger = options.logger ?? silentLogger;
  const now = options.now ?? Date.now;
  const env = options.env ?? process.env;
  const profile =
    typeof options.profile === "string" ? loadHardwareProfile(options.profile) : options.profile;
  const needsGpus = (profile.gpuCount ?? 0) > 0;
  const started = now();
  const steps = ["environment", "nvidia-smi", "fingerprint", "host", "bandwidth"];
  const step = (name: string) => {
    options.signal?.throwIfAborted();
    options.onStep?.(name, steps.indexOf(name), steps.length);
  };

  step("environment");
  const preloadFile = await readFile(options.preloadFilePath ?? "/etc/ld.so.preload", "utf8").catch(
    () => undefined,
  );
  const loaderOverrides = findLoaderOverrides({
    env,
    preloadFile,
    trustedLibraryDirs: profile.trustedLibraryDirs,
  });
  const childEnv = cleanEnvironment(env, loaderOverrides);

  step("nvidia-smi");
  const smiRequested = options.nvidiaSmiPath ?? "nvidia-smi";
  const smiPath = await resolveExecutable(smiRequested, env);
  const problems: string[] = [];
  let gpus: Gpu[] = [];
  let links: HardwareFacts["links"] = [];
  let cudaVersion = "";
  if (!smiPath) {
    if (needsGpus) {
      throw new CacheonError(
        "unavailable",
        `nvidia-smi not found ("${smiRequested}"): install the NVIDIA driver, or pass --nvidia-smi PATH`,
      );
    }
    logger.info("no nvidia-smi; the profile needs no GPU", { profile: profile.name });
  } else {
    const run = (args: string[]) =>
      runNvidiaSmi(args, { nvidiaSmiPath: smiPath, env: childEnv, signal: options.signal });
    const query = parseNvidiaSmiXml(await run(["-q", "-x"]));
    gpus = query.gpus;
    cudaVersion = query.cudaVersion;
    problems.push(...query.problems.map((p) => `nvidia-smi -q -x: ${p}`));
    if (gpus.length > 0) {
      const [topoText, nvlinkText] = await Promise.all([
        run(["topo", "-m"]).catch((error: Error) => {
          problems.push(`nvidia-smi topo -m failed: ${error.message}`);
          return "";
        }),
        run(["nvlink", "-s"]).catch((error: Error) => {
          problems.push(`nvidia-smi nvlink -s failed: ${error.message}`);
          return "";
        }),
      ]);
      links = mergeTopologyAndLinks(gpus, topoText, nvlinkText, problems);
    }
  }

  step("fingerprint");
  const nvmlPath = smiPath
    ? await resolveNvmlLibrary({ env: childEnv, ldconfigOutput: options.ldconfigOutput })
    : "";
  const replayAllowed = options.allowNvidiaSmiReplay ?? env.CACHEON_ALLOW_NVIDIA_SMI_REPLAY === "1";
  const fingerprint = create(SoftwareFingerprintSchema, {
    nvidiaSmiPath: smiPath ?? "",
    nvidiaSmiSha256: smiPath ? await sha256File(smiPath) : "",
    nvmlLibraryPath: nvmlPath,
    nvmlLibrarySha256: nvmlPath ? await sha256File(nvmlPath) : "",
    driverVersions: [...new Set(gpus.map((g) => g.driverVersion))].sort(),
    cudaVersion,
    loaderOverrides: loaderOverrides.map((o) => o.variable),
    nvidiaSmiReplay: replayAllowed,
    fabricManagerVersion: smiPath ? await readFabricManagerVersion(childEnv) : "",
  });
  const software = checkDriverSoftware(
    {
      nvidiaSmiPath: fingerprint.nvidiaSmiPath,
      nvidiaSmiSha256: fingerprint.nvidiaSmiSha256,
      nvidiaSmiIsElf: smiPath ? await isElfExecutable(smiPath) : false,
      replayAllowed,
      nvmlLibraryPath: nvmlPath,
      nvmlLibrarySha256: fingerprint.nvmlLibrarySha256,
      driverVersions: fingerprint.driverVersions,
      fabricManagerVersion: fingerprint.fabricManagerVersion,
    },
    profile,
  );
  fingerprint.knownDriverBuild = software.knownBuild;

  step("host");
  let host: HostInfo | undefined;
  if (options.collectHost ?? true) host = await collectHostFacts({ docker: options.docker, logger });

  step("bandwidth");
  let bandwidth: BandwidthCheck | undefined;
  const failures: HardwareFailure[] = [];
  if (options.runBandwidthCheck) {
    const measured = await measureGpuBandwidth(options.runBandwidthCheck, profile, options.signal);
    bandwidth = measured.bandwidth;
    failures.push(...measured.failures);
  }

  const facts: HardwareFacts = { gpus, links, host, loaderOverrides, bandwidth, problems };
  failures.unshift(...checkHardwareRules(facts, profile), ...software.failures);
  const finished = now();
  return create(HardwareReportSchema, {
    profile: profile.name,
    ok: failures.length === 0,
    gpus,
    links,
    failures,
    findings: software.findings,
    host,
    fingerprint,
    bandwidth,
    takenAtUnixMs: BigInt(finished),
    durationMs: BigInt(Math.max(0, finished - started)),
  });
}

/** The environment nvidia-smi gets: refused loader variables removed, so what it prints is NVIDIA's. */
function cleanEnvironment(
  env: Record<string, string | undefined>,
  overrides: LoaderOverride[],
): Record<string, string | undefined> {
  const clean = { ...env };
  for (const name of scrubbed) delete clean[name];
  if (overrides.some((o) => o.variable === "LD_LIBRARY_PATH")) delete clean.LD_LIBRARY_PATH;
  return clean;
}

/**
 * Puts `nvlink -s` links and `topo -m` affinity onto the GPUs and returns the pair links.
 * Tools that disagree with `-q -x` (another GPU count, another UUID at an index) are problems:
 * either the output was edited or the GPUs changed between calls.
 */
export function mergeTopologyAndLinks(gpus: Gpu[], topoText: string, nvlinkText: string, problems: string[]) {
  const topology = parseTopologyMatrix(topoText);
  if (gpus.length > 1 || topoText.trim() !== "") {
    problems.push(...topology.problems.map((p) => `nvidia-smi topo -m: ${p}`));
  }
  if (topology.gpuIndices.length > 0 && topology.gpuIndices.length !== gpus.length) {
    problems.push(`topo -m shows ${topology.gpuIndices.length} GPU(s), -q -x shows ${gpus.length}`);
  }
  const nvlinks = parseNvlinkStatus(nvlinkText);
  problems.push(...nvlinks.problems.map((p) => `nvidia-smi nvlink -s: ${p}`));
  for (const gpu of gpus) {
    const status = nvlinks.gpus.get(gpu.index);
    if (status) {
      if (status.uuid && gpu.uuid && status.uuid !== gpu.uuid) {
        problems.push(`nvlink -s names GPU ${gpu.index} ${status.uuid}, -q -x says ${gpu.uuid}`);
      }
      gpu.nvlinks = status.links;
    }
    const affinity = topology.affinity.get(gpu.index);
    if (affinity) {
      gpu.numaNode = affinity.numaNode;
      gpu.cpuAffinity = affinity.cpuAffinity;
    }
  }
  for (const index of nvlinks.gpus.keys()) {
    if (!gpus.some((g) => g.index === index))
      problems.push(`nvlink -s lists GPU ${index}, which -q -x does not show`);
  }
  return topology.links;
}
