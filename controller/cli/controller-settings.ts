import { decodeAddress, encodeAddress } from "@polkadot/util-crypto";
import { loadHardwareProfile } from "../../agent/hardware/profiles.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { parseImageReference } from "../../shared/image/image-reference.ts";
import { type ArmLaunchSettings, recipeProblems } from "../../shared/launch/arm-launch.ts";
import { type BeaconInfo, quicknetDst } from "../../shared/timelock/beacon-info.ts";
import { decodeG2 } from "../../shared/timelock/beacon-signature.ts";
import { isVersion } from "../../shared/version/compare-versions.ts";
import { parsePromptSecret } from "../../shared/workload/prompt-key.ts";
import { workloadOf } from "../config/workload-settings.ts";
import { eventsPathFor } from "../control-plane/control-plane-config.ts";
import type { CopyPolicy } from "../copies/detect-copy.ts";
import type { FeePolicy } from "../fees/fee-decision.ts";
import type { HealthSettings } from "../health/health-config.ts";
import type { BudgetOptions } from "../pods/budget.ts";
import type { FleetTimeouts } from "../pods/fleet.ts";
import type { StaticMachine } from "../pods/static-provider.ts";
import type { RoundSettings } from "../rounds/round-settings.ts";
import { resolveScoringPolicy, type ScoringPolicy } from "../scoring/scoring-policy.ts";
import type { WeightPolicy } from "../weights/weight-policy.ts";
import { defaultWeightCadence, type WeightCadence } from "../weights/weight-setter.ts";

/** The controller's configuration, typed and grouped for the components that use it. */
export interface ControllerSettings {
  storePath: string;
  chain: {
    endpoints: string[];
    netuid: number;
    blockSeconds: number;
    /** The drand beacon the chain follows (its Drand pallet's pulses open timelocked commits). */
    drand: BeaconInfo;
    commitReveal: "timelock" | "hash";
    /** Deadline and mortal era of submitted extrinsics (controller/chain/extrinsic-submitter.ts). */
    submit: { deadlineMs: number; mortalBlocks: number };
  };
  wallet: { name: string; hotkey: string; path: string; devUri: string };
  intervalMs: number;
  weightIntervalMs: number;
  rounds: RoundSettings;
  scoring: ScoringPolicy;
  copies: CopyPolicy;
  weights: WeightPolicy;
  /** The submission fee; undefined when fees.destination is empty (no fee required). */
  fees: (FeePolicy & { startBlock: number | undefined }) | undefined;
  cadence: WeightCadence;
  versionKey: bigint;
  publish: { target: "local"; folder: string } | ({ target: "s3" } & S3Location);
  webListen: string;
  controlPlane: {
    listen: string;
    tlsCertFile: string;
    tlsKeyFile: string;
    allowPlaintext: boolean;
    /** Lowest agent version accepted; "" for any. */
    minAgentVersion: string;
    /** The agents' event log file (never the store). */
    eventsPath: string;
    eventRetentionMs: number;
    maxEventLogBytes: number;
    /** Per-agent quotas (SessionLimitOptions). */
    limits: {
      maxStoredEventBytesPerAgent: number;
      eventBytesPerSecond: number;
      messagesPerSecond: number;
    };
    /** Lifetime of a granted upload URL, ms. */
    uploadTtlMs: number;
  };
  agents: {
    mode: "local" | "remote";
    localPods: string[];
    limits: { cpus: number; memoryBytes: number; nofile: number };
  };
  /** The fleet serve rents pods with in agents.mode remote (provider "none": no fleet). */
  pods: PodsSettings;
  /** Raw artefacts agents upload through pre-signed URLs (agents.mode remote). */
  artefacts: ArtefactSettings;
  /** When a loop counts as stuck for /healthz. */
  health: HealthSettings;
}

/** Fleet settings (controller/pods/). */
export interface PodsSettings {
  provider:
    | { kind: "none" }
    | { kind: "static"; machines: StaticMachine[] }
    | {
        kind: "command";
        create: [string, ...string[]];
        list: [string, ...string[]];
        delete: [string, ...string[]];
        timeoutMs: number;
      };
  profile: { name: string; gpuModel: string; gpuCount: number };
  /** URL the pods' agents dial; "" means the control plane's own URL. */
  controllerUrl: string;
  bundleUrl: string;
  bundleSha256: string;
  bootReportUrl: string;
  budget: Required<BudgetOptions>;
  timeouts: Required<Omit<FleetTimeouts, "jobMs">>;
  tickMs: number;
}

/** Raw artefact storage: none, S3 (settings fall back to publish.s3.* when empty), or a local folder. */
export type ArtefactSettings =
  | { target: "none" }
  | ({ target: "s3"; maxBytes: number } & S3Location)
  | { target: "folder"; folder: string; maxBytes: number };

/** A bucket and prefix on S3 or an S3-compatible server; empty credentials use the SDK's chain. */
export interface S3Location {
  bucket: string;
  prefix: string;
  endpoint?: string | undefined;
  region: string;
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
}

/** The launch settings of arms (baseline.*, arms.cacheDirMiB); pushes problems. */
function resolveArmLaunch(v: <T>(key: string) => T, problems: string[]): ArmLaunchSettings {
  const recipe = {
    command: v<string[]>("baseline.command"),
    args: v<string[]>("baseline.args"),
    env: v<string[]>("baseline.env"),
  };
  problems.push(...recipeProblems(recipe));
  let gpuCount = v<number>("baseline.tensorParallelSize");
  if (gpuCount === 0) {
    const profile = v<string>("rounds.hardwareProfile");
    try {
      gpuCount = loadHardwareProfile(profile).gpuCount ?? 1;
    } catch {
      problems.push(
        `baseline.tensorParallelSize: the GPU count of rounds.hardwareProfile "${profile}" is unknown here; set it`,
      );
    }
  }
  return {
    baseline: v<"recipe" | "image">("baseline.launch"),
    ...recipe,
    cacheDirBytes: v<number>("arms.cacheDirMiB") * 1024 * 1024,
    gpuCount,
  };
}

/** Parses pods.machines entries ("id@host" or "id@host@price"); pushes problems. */
function parseMachines(entries: string[], profile: string, problems: string[]): StaticMachine[] {
  const machines: StaticMachine[] = [];
  for (const entry of entries) {
    const [id, host, price, ...rest] = entry.split("@");
    const pricePerHour = price === undefined ? undefined : Number(price);
    if (!id || !host || rest.length > 0 || (pricePerHour !== undefined && !(pricePerHour >= 0))) {
      problems.push(`pods.machines: "${entry}" is not "id@host" or "id@host@pricePerHour"`);
      continue;
    }
    machines.push({ id, host, profile, ...(pricePerHour !== undefined ? { pricePerHour } : {}) });
  }
  return machines;
}

/**
 * Bytes a job carries per prompt token: the corpus's text runs about 4.2 bytes per Qwen2.5 token
 * (1.02 MB for 40 prompts of 6,144 tokens), with room for escaping and protobuf framing.
 */
const jobBytesPerPromptToken = 5;
/** What a job's prompts may take: the control plane's messages are capped at 4 MiB both ways. */
const maxJobPromptBytes = 3.5 * 2 ** 20;

/**
 * Turns the flat values of `loadConfig(controllerConfigSchema)` into typed settings. With
 * `forServe`, also checks what serving needs (a pinned baseline, a bucket for S3, two local pods);
 * every problem is reported at once.
 */
export function resolveControllerSettings(
  values: Record<string, unknown>,
  options: { forServe?: boolean } = {},
): ControllerSettings {
  const v = <T>(key: string) => values[key] as T;
  const problems: string[] = [];
  const baselineImage = v<string>("rounds.baselineImage");
  const feeDestination = v<string>("fees.destination");
  if (feeDestination && !isSs58(feeDestination))
    problems.push(
      `fees.destination: "${feeDestination}" is not an SS58 address (or leave it empty for no fee)`,
    );
  if (options.forServe) {
    if (!baselineImage)
      problems.push(
        'rounds.baselineImage: required by serve; set the pinned baseline, e.g. "registry/cacheon/baseline@sha256:<64 hex>"',
      );
    else {
      try {
        parseImageReference(baselineImage);
      } catch (error) {
        problems.push(`rounds.baselineImage: ${(error as Error).message}`);
      }
    }
    if (v<string>("publish.target") === "s3" && !v<string>("publish.s3.bucket"))
      problems.push("publish.s3.bucket: required when publish.target is s3");
    const minAgent = v<string>("controlPlane.minAgentVersion");
    if (minAgent && !isVersion(minAgent)) {
      problems.push(`controlPlane.minAgentVersion: "${minAgent}" is not a version (MAJOR.MINOR.PATCH)`);
    }
    if (Boolean(v<string>("controlPlane.tlsCertFile")) !== Boolean(v<string>("controlPlane.tlsKeyFile"))) {
      problems.push("controlPlane.tlsCertFile and controlPlane.tlsKeyFile: give both or neither");
    }
    if (v<string>("agents.mode") === "remote" && v<string>("pods.provider") !== "none") {
      for (const key of ["pods.bundleUrl", "pods.bundleSha256"])
        if (!v<string>(key))
          problems.push(`${key}: required when pods.provider is ${v<string>("pods.provider")}`);
    }
    if (
      v<string>("artefacts.target") === "s3" &&
      !v<string>("artefacts.s3.bucket") &&
      !v<string>("publish.s3.bucket")
    )
      problems.push("artefacts.s3.bucket: required when artefacts.target is s3 (or set publish.s3.bucket)");
    if (v<string>("artefacts.target") === "folder" && v<string>("agents.mode") === "remote")
      problems.push(
        "artefacts.target: folder keeps what agents in this process make; remote agents upload, so use s3 in agents.mode remote",
      );
    if (v<string>("agents.mode") === "local" && v<string[]>("agents.localPods").length < 2) {
      problems.push("agents.localPods: give at least two names; a win must be reproduced on another pod");
    }
  }
  const providerKind = v<"none" | "static" | "command">("pods.provider") ?? "none";
  const command = (key: string) => v<string[]>(key) ?? [];
  if (providerKind === "command") {
    for (const key of ["pods.createCommand", "pods.listCommand", "pods.deleteCommand"])
      if (command(key).length === 0) problems.push(`${key}: required when pods.provider is command`);
  }
  const profileName = v<string>("rounds.hardwareProfile");
  const machines = parseMachines(v<string[]>("pods.machines") ?? [], profileName, problems);
  if (providerKind === "static" && machines.length === 0 && problems.length === 0)
    problems.push('pods.machines: give at least one "id@host" when pods.provider is static');
  if (v<number>("weights.leaderShare") + v<number>("weights.runnerUpShare") <= 0)
    problems.push("weights.leaderShare + weights.runnerUpShare must be above 0");
  const promptSource = v<string>("workload.promptSource");
  const generated = promptSource === "generated";
  if (!generated && !/^(bundled:|sha256:)/.test(promptSource)) {
    problems.push('workload.promptSource: give "generated", "bundled:<corpus>" or "sha256:<hex>"');
  }
  const secret = v<string>("rounds.validatorSecret");
  if (secret || (options.forServe && generated)) {
    try {
      parsePromptSecret(secret, "rounds.validatorSecret");
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  if (generated) {
    const prompts =
      v<number>("workload.warmupRequests") * v<number>("workload.warmupMaxBatches") +
      v<number>("workload.probePrompts") +
      v<number>("workload.repetitions") *
        (v<number>("workload.requests") + v<number>("workload.canaryRequests"));
    const bytes = prompts * v<number>("workload.promptTokens") * jobBytesPerPromptToken;
    if (bytes > maxJobPromptBytes) {
      problems.push(
        `workload: ${prompts} prompts of ${v<number>("workload.promptTokens")} tokens make jobs of about ${(bytes / 2 ** 20).toFixed(1)} MiB, more than the ${maxJobPromptBytes / 2 ** 20} MiB a job may carry to a pod; lower workload.requests, workload.repetitions or workload.promptTokens`,
      );
    }
  }
  if (problems.length > 0) {
    throw new CacheonError(
      "invalid-config",
      `configuration has ${problems.length} problem${problems.length > 1 ? "s" : ""}:\n  - ${problems.join("\n  - ")}`,
    );
  }
  const workload = workloadOf(v);
  const s3Endpoint = v<string>("publish.s3.endpoint");
  return {
    storePath: v<string>("store.path"),
    chain: {
      endpoints: v<string[]>("chain.endpoints"),
      netuid: v<number>("chain.netuid"),
      blockSeconds: v<number>("chain.blockSeconds"),
      drand: drandBeacon(
        v<string>("chain.drand.publicKey"),
        v<number>("chain.drand.genesisSeconds"),
        v<number>("chain.drand.periodSeconds"),
      ),
      commitReveal: v<"timelock" | "hash">("weights.commitReveal"),
      submit: {
        deadlineMs: v<number>("chain.submitDeadlineSeconds") * 1000,
        mortalBlocks: v<number>("chain.mortalBlocks"),
      },
    },
    wallet: {
      name: v<string>("wallet.name"),
      hotkey: v<string>("wallet.hotkey"),
      path: v<string>("wallet.path"),
      devUri: v<string>("wallet.devUri"),
    },
    intervalMs: v<number>("rounds.intervalSeconds") * 1000,
    weightIntervalMs: v<number>("weights.checkSeconds") * 1000,
    rounds: {
      baselineImage,
      workload,
      hardwareProfile: v<string>("rounds.hardwareProfile"),
      modelDir: v<string>("rounds.modelDir"),
      maxChallengersPerJob: v<number>("rounds.maxChallengersPerJob"),
      interleavedBlocks: v<number>("rounds.interleavedBlocks"),
      maxAttempts: v<number>("rounds.maxAttempts"),
      roundTimeoutMs: Math.round(v<number>("rounds.timeoutMinutes") * 60_000),
      jobTimeoutMs: Math.round(v<number>("rounds.jobTimeoutMinutes") * 60_000),
      baselineStartupS: v<number>("rounds.baselineStartupSeconds"),
      challengerStartupS: v<number>("rounds.challengerStartupSeconds"),
      validatorSecret: v<string>("rounds.validatorSecret"),
      launch: resolveArmLaunch(v, problems),
    },
    scoring: resolveScoringPolicy({
      bookendLimit: v<number>("scoring.bookendLimit"),
      minMargin: v<number>("scoring.minMargin"),
      noiseMultiplier: v<number>("scoring.noiseMultiplier"),
      driftCorrection: v<boolean>("scoring.driftCorrection"),
      driftResidual: v<number>("scoring.driftResidual"),
      maxFailedRequestFraction: v<number>("scoring.maxFailedRequestFraction"),
      leaderMustBeatBaseline: v<boolean>("scoring.leaderMustBeatBaseline"),
      failOnFindings: v<boolean>("scoring.failOnFindings"),
      maxRemeasurements: v<number>("scoring.maxRemeasurements"),
      pooledNoiseMultiplier: v<number>("scoring.pooledNoiseMultiplier"),
      decision: v<"sequential" | "fixed">("scoring.decision"),
      sequentialStages: v<number>("scoring.sequentialStages"),
      sequentialAlpha: v<number>("scoring.sequentialAlpha"),
      sequentialBeta: v<number>("scoring.sequentialBeta"),
      sequentialAdvantage: v<number>("scoring.sequentialAdvantage"),
      sequentialAlphaSpending: v<number>("scoring.sequentialAlphaSpending"),
      sequentialBetaSpending: v<number>("scoring.sequentialBetaSpending"),
    }),
    copies: {
      maxExtraLayers: v<number>("copies.maxExtraLayers"),
      maxExtraBytes: v<number>("copies.maxExtraBytes"),
    },
    weights: {
      leaderShare: v<number>("weights.leaderShare"),
      runnerUpShare: v<number>("weights.runnerUpShare"),
      burnShare: v<number>("weights.burnShare"),
      burnUid: v<number>("weights.burnUid"),
      fallback: v<"burn" | "skip">("weights.fallback"),
      vacantLeader: v<"promote-runner-up" | "burn">("weights.vacantLeader"),
    },
    fees:
      feeDestination && isSs58(feeDestination)
        ? {
            destination: encodeAddress(decodeAddress(feeDestination), 42),
            amount: BigInt(Math.round(v<number>("fees.amountTao") * 1e9)),
            windowBlocks: v<number>("fees.windowBlocks"),
            revealBlocks: v<number>("fees.revealBlocks"),
            startBlock: v<number>("fees.startBlock") || undefined,
          }
        : undefined,
    cadence: {
      refreshBlocks: v<number>("weights.refreshBlocks"),
      rateLimitBlocks: v<number>("weights.rateLimitBlocks"),
      inFlightBlocks: defaultWeightCadence.inFlightBlocks,
    },
    versionKey: BigInt(v<number>("weights.versionKey")),
    publish:
      v<string>("publish.target") === "s3"
        ? {
            target: "s3",
            bucket: v<string>("publish.s3.bucket"),
            prefix: v<string>("publish.s3.prefix"),
            endpoint: s3Endpoint || undefined,
            region: v<string>("publish.s3.region"),
            accessKeyId: v<string>("publish.s3.accessKeyId") || undefined,
            secretAccessKey: v<string>("publish.s3.secretAccessKey") || undefined,
          }
        : { target: "local", folder: v<string>("publish.folder") },
    webListen: v<string>("web.listen"),
    controlPlane: {
      listen: v<string>("controlPlane.listen"),
      tlsCertFile: v<string>("controlPlane.tlsCertFile"),
      tlsKeyFile: v<string>("controlPlane.tlsKeyFile"),
      allowPlaintext: v<boolean>("controlPlane.allowPlaintext"),
      minAgentVersion: v<string>("controlPlane.minAgentVersion"),
      eventsPath: eventsPathFor(v<string>("store.path"), v<string>("controlPlane.eventsPath")),
      eventRetentionMs: Math.round(v<number>("controlPlane.eventRetentionDays") * 86_400_000),
      maxEventLogBytes: v<number>("controlPlane.maxEventLogMiB") * 1024 * 1024,
      limits: {
        maxStoredEventBytesPerAgent: v<number>("controlPlane.agentEventQuotaMiB") * 1024 * 1024,
        eventBytesPerSecond: Math.round(v<number>("controlPlane.agentEventMiBPerSecond") * 1024 * 1024),
        messagesPerSecond: v<number>("controlPlane.agentMessagesPerSecond"),
      },
      uploadTtlMs: Math.round(v<number>("artefacts.urlMinutes") * 60_000),
    },
    agents: {
      mode: v<"local" | "remote">("agents.mode"),
      localPods: v<string[]>("agents.localPods"),
      limits: {
        cpus: v<number>("agents.localCpus"),
        memoryBytes: v<number>("agents.localMemoryMib") * 1024 * 1024,
        nofile: v<number>("agents.localNofile"),
      },
    },
    pods: {
      provider:
        providerKind === "command"
          ? {
              kind: "command",
              create: command("pods.createCommand") as [string, ...string[]],
              list: command("pods.listCommand") as [string, ...string[]],
              delete: command("pods.deleteCommand") as [string, ...string[]],
              timeoutMs: v<number>("pods.commandTimeoutSeconds") * 1000,
            }
          : providerKind === "static"
            ? { kind: "static", machines }
            : { kind: "none" },
      profile: {
        name: profileName,
        gpuModel: v<string>("pods.gpuModel"),
        gpuCount: v<number>("pods.gpuCount"),
      },
      controllerUrl: v<string>("pods.controllerUrl") ?? "",
      bundleUrl: v<string>("pods.bundleUrl") ?? "",
      bundleSha256: (v<string>("pods.bundleSha256") ?? "").toLowerCase(),
      bootReportUrl: v<string>("pods.bootReportUrl") ?? "",
      budget: {
        maxPods: v<number>("pods.maxPods"),
        maxPricePerHour: v<number>("pods.maxPricePerHour"),
        maxLifetimeMs: Math.round(v<number>("pods.maxLifetimeMinutes") * 60_000),
        maxIdleMs: Math.round(v<number>("pods.maxIdleMinutes") * 60_000),
      },
      timeouts: {
        provisionMs: Math.round(v<number>("pods.provisionTimeoutMinutes") * 60_000),
        bootMs: Math.round(v<number>("pods.bootTimeoutMinutes") * 60_000),
        verifyMs: Math.round(v<number>("pods.verifyTimeoutMinutes") * 60_000),
      },
      tickMs: Math.round(v<number>("pods.tickSeconds") * 1000),
    },
    artefacts:
      v<string>("artefacts.target") === "s3"
        ? {
            target: "s3",
            bucket: v<string>("artefacts.s3.bucket") || v<string>("publish.s3.bucket"),
            prefix: v<string>("artefacts.s3.prefix"),
            endpoint: v<string>("artefacts.s3.endpoint") || s3Endpoint || undefined,
            region: v<string>("artefacts.s3.region") || v<string>("publish.s3.region"),
            accessKeyId:
              v<string>("artefacts.s3.accessKeyId") || v<string>("publish.s3.accessKeyId") || undefined,
            secretAccessKey:
              v<string>("artefacts.s3.secretAccessKey") ||
              v<string>("publish.s3.secretAccessKey") ||
              undefined,
            maxBytes: v<number>("artefacts.maxMiB") * 1024 * 1024,
          }
        : v<string>("artefacts.target") === "folder"
          ? {
              target: "folder",
              folder: v<string>("artefacts.folder"),
              maxBytes: v<number>("artefacts.maxMiB") * 1024 * 1024,
            }
          : { target: "none" },
    health: {
      roundsStuckMs: Math.round(v<number>("health.roundsStuckMinutes") * 60_000),
      weightsStuckMs: Math.round(v<number>("health.weightsStuckMinutes") * 60_000),
      fleetStuckMs: Math.round(v<number>("health.fleetStuckMinutes") * 60_000),
    },
  };
}

/** The configured drand beacon; a public key that is not a G2 point is a configuration error. */
function drandBeacon(publicKeyHex: string, genesisSeconds: number, periodSeconds: number): BeaconInfo {
  const hex = publicKeyHex.replace(/^0x/, "");
  if (!/^[0-9a-fA-F]{192}$/.test(hex))
    throw new CacheonError(
      "invalid-config",
      `chain.drand.publicKey must be 96 bytes of hex (a compressed G2 point); got ${publicKeyHex.length} characters`,
    );
  const publicKey = Uint8Array.from(hex.match(/../g) ?? [], (b) => Number.parseInt(b, 16));
  try {
    decodeG2(publicKey, "chain.drand.publicKey");
  } catch (error) {
    throw new CacheonError("invalid-config", `${(error as Error).message}: check chain.drand.publicKey`);
  }
  return { publicKey, genesisSeconds, periodSeconds, dst: quicknetDst };
}

function isSs58(text: string): boolean {
  try {
    decodeAddress(text);
    return true;
  } catch {
    return false;
  }
}
