import type Docker from "dockerode";

/** Label keys on everything the agent creates, so leftovers can be found and removed. */
export const containerLabels = {
  /** Marks an object as the agent's. */
  managed: "cacheon.managed",
  /** Job id. */
  job: "cacheon.job",
  /** Arm id. */
  arm: "cacheon.arm",
  /**
   * Identity of the agent that created the object (its agent id, or a local run's id): a restarted
   * agent removes what it left behind, and only that, since other agents may share the engine.
   */
  agent: "cacheon.agent",
} as const;

/** Which GPUs an arm gets. */
export type GpuSelection = "none" | "all" | { uuids: string[] };

/** How an arm's container is networked. */
export type NetworkMode =
  /** A per-job Docker bridge network with `Internal: true`: no route out, reachable from the host. */
  | { kind: "internal"; network: string }
  /** The host's network stack, for machines where a bridge is unwanted (no isolation). */
  | { kind: "host" };

/** Limits and isolation of an arm's container. Every field optional; defaults follow the subnet's rules. */
export interface ArmLimits {
  /** Memory in bytes; swap is set equal, so the container cannot swap. @default 200 GiB */
  memoryBytes?: number;
  /** CPUs (fractional allowed); capped by the caller at the host's count. @default 32 */
  cpus?: number;
  /** Largest number of processes and threads. @default 4096 */
  pidsLimit?: number;
  /** /dev/shm size in bytes. @default 16 GiB */
  shmBytes?: number;
  /** Open files (soft and hard). @default 65536 */
  nofile?: number;
  /** Size of one json-file log file before rotation. @default "50m" */
  logMaxSize?: string;
  /** Log files kept. @default 2 */
  logMaxFiles?: number;
  /** Mount the image's root file system read-only (with a tmpfs at /tmp). @default true */
  readOnlyRootfs?: boolean;
  /** Size of the /tmp tmpfs when the root is read-only, bytes. @default 1 GiB */
  tmpBytes?: number;
  /**
   * Size of the tmpfs put over each VOLUME the image declares, bytes. Without it the engine would
   * create an anonymous volume on the host's disk there: writable despite the read-only root and
   * outside every limit. @default 1 GiB
   */
  volumeBytes?: number;
}

/** The limits with every default filled in. */
export type ResolvedArmLimits = Required<ArmLimits>;

const gib = 1024 ** 3;

/** Defaults of {@link ArmLimits}. */
export const defaultArmLimits: ResolvedArmLimits = {
  memoryBytes: 200 * gib,
  cpus: 32,
  pidsLimit: 4096,
  shmBytes: 16 * gib,
  nofile: 65536,
  logMaxSize: "50m",
  logMaxFiles: 2,
  readOnlyRootfs: true,
  tmpBytes: gib,
  volumeBytes: gib,
};

/** A writable tmpfs directory of an arm (the contract's WritableDir). */
export interface WritableDirSpec {
  /** Absolute path inside the container. */
  path: string;
  /** Size cap, bytes. */
  sizeBytes: number;
}

/** Input of {@link armContainerSpec}. */
export interface ArmContainerSpecInput {
  /** Container name. */
  name: string;
  /** Image to run: the pull reference or image id (never a tag). */
  image: string;
  /** Job id, for labels. */
  jobId: string;
  /** Arm id, for labels. */
  armId: string;
  /** Networking. */
  network: NetworkMode;
  /** GPUs. */
  gpus: GpuSelection;
  /** Host directory mounted read-only at /model; none when empty. */
  modelDir?: string;
  /** Limits; missing fields take {@link defaultArmLimits}. */
  limits?: ArmLimits;
  /** Environment variables, "NAME=value", set over the image's own. */
  env?: string[];
  /** Replaces the image's ENTRYPOINT when not empty (the image's CMD is then dropped too). */
  cmd?: string[];
  /** Replaces the image's CMD when not empty. */
  args?: string[];
  /** Writable tmpfs directories besides /tmp (caches). */
  writableDirs?: WritableDirSpec[];
  /** Paths the image declares as VOLUME (its config's Volumes); each gets a size-capped tmpfs. */
  imageVolumes?: string[];
  /** Port the server listens on inside the container. @default 8000 */
  port?: number;
  /** Extra labels. */
  labels?: Record<string, string>;
}

/**
 * The engine's create options for an arm's container: isolation on by default (internal
 * network, all capabilities dropped, no-new-privileges, pid/memory/file limits, an init process,
 * read-only root, capped logs, no mounts but the model). Pure, so the isolation is checkable
 * without an engine.
 */
export function armContainerSpec(input: ArmContainerSpecInput): Docker.ContainerCreateOptions {
  const limits = { ...defaultArmLimits, ...input.limits };
  const port = input.port ?? 8000;
  const mounts: Docker.MountSettings[] = [];
  if (input.modelDir) {
    mounts.push({ Type: "bind", Source: input.modelDir, Target: "/model", ReadOnly: true });
  }
  // /tmp and the caches are writable and executable: Triton and torch.compile write shared
  // objects there and load them (noexec, Docker's tmpfs default, breaks vLLM). The image can ship
  // any binary it likes anyway, so exec adds nothing an arm could not already do.
  const tmpfs: Record<string, string> = {};
  const writable = (bytes: number) => `rw,exec,nosuid,nodev,size=${Math.max(1, Math.floor(bytes))}`;
  if (limits.readOnlyRootfs) tmpfs["/tmp"] = writable(limits.tmpBytes);
  for (const dir of input.writableDirs ?? []) tmpfs[dir.path] = writable(dir.sizeBytes);
  // A declared VOLUME gets a tmpfs through Mounts (the engine then creates no anonymous volume on
  // the host's disk for it); paths already covered by /model or a tmpfs above need nothing more.
  for (const path of volumeTargets(input.imageVolumes ?? [], tmpfs, input.modelDir ? ["/model"] : [])) {
    // Mode 1777 as /tmp: an image running as a non-root user can still write its volume.
    mounts.push({
      Type: "tmpfs",
      Source: "",
      Target: path,
      TmpfsOptions: { SizeBytes: limits.volumeBytes, Mode: 0o1777 },
    });
  }
  const deviceRequests: Docker.DeviceRequest[] =
    input.gpus === "none"
      ? []
      : input.gpus === "all"
        ? [{ Driver: "nvidia", Count: -1, Capabilities: [["gpu"]] }]
        : [{ Driver: "nvidia", DeviceIDs: input.gpus.uuids, Capabilities: [["gpu"]] }];
  const hostConfig: Docker.HostConfig = {
    NetworkMode: input.network.kind === "host" ? "host" : input.network.network,
    Privileged: false,
    CapDrop: ["ALL"],
    SecurityOpt: ["no-new-privileges"],
    Init: true,
    PidsLimit: limits.pidsLimit,
    Memory: limits.memoryBytes,
    MemorySwap: limits.memoryBytes,
    NanoCpus: Math.round(limits.cpus * 1e9),
    ShmSize: limits.shmBytes,
    Ulimits: [
      { Name: "nofile", Soft: limits.nofile, Hard: limits.nofile },
      { Name: "core", Soft: 0, Hard: 0 },
    ],
    ReadonlyRootfs: limits.readOnlyRootfs,
    Tmpfs: tmpfs,
    Mounts: mounts,
    Binds: [],
    LogConfig: {
      Type: "json-file",
      Config: { "max-size": limits.logMaxSize, "max-file": String(limits.logMaxFiles) },
    },
    RestartPolicy: { Name: "no" },
    AutoRemove: false,
    IpcMode: "private",
    ...(deviceRequests.length > 0 ? { DeviceRequests: deviceRequests } : {}),
  };
  return {
    name: input.name,
    Image: input.image,
    ...(input.cmd && input.cmd.length > 0 ? { Entrypoint: input.cmd } : {}),
    ...(input.args && input.args.length > 0 ? { Cmd: input.args } : {}),
    Env: [`PORT=${port}`, ...(input.env ?? [])],
    ExposedPorts: { [`${port}/tcp`]: {} },
    Labels: {
      ...input.labels,
      [containerLabels.managed]: "true",
      [containerLabels.job]: input.jobId,
      [containerLabels.arm]: input.armId,
    },
    HostConfig: hostConfig,
    NetworkingConfig:
      input.network.kind === "internal" ? { EndpointsConfig: { [input.network.network]: {} } } : undefined,
  };
}

/**
 * The image's VOLUME paths that need a tmpfs of their own: normalised, without duplicates, and
 * without those already mounted (`covered` tmpfs paths, `others` such as /model). Pure.
 */
export function volumeTargets(
  volumes: readonly string[],
  covered: Record<string, string>,
  others: readonly string[],
): string[] {
  const taken = new Set([...Object.keys(covered), ...others]);
  const out: string[] = [];
  for (const raw of volumes) {
    const path = normalisePath(raw);
    if (path === "/" || taken.has(path)) continue;
    taken.add(path);
    out.push(path);
  }
  return out.sort();
}

function normalisePath(path: string): string {
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}
