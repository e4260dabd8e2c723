import { setTimeout as sleep } from "node:timers/promises";
import type Docker from "dockerode";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import { type ArmContainerSpecInput, armContainerSpec } from "./arm-container-spec.ts";
import { type LogTail, readLogTail } from "./container-log.ts";
import { dockerError } from "./docker-error.ts";

/** How a container ended, as the engine reports it. */
export interface ExitState {
  /** False once the process has exited. */
  running: boolean;
  /** Exit code; -1 while running or unknown. */
  exitCode: number;
  /** True when the kernel killed it for memory. */
  oomKilled: boolean;
  /** The engine's error text, if any (e.g. a missing entrypoint). */
  error: string;
}

/** A started arm container. */
export interface ArmContainer {
  /** Engine id. */
  id: string;
  /** Container name. */
  name: string;
  /** Base URL the agent reaches the server at, e.g. "http://172.18.0.2:8000". */
  endpoint: string;
  /** When the container was started, ms since the epoch. */
  startedAtMs: number;
  /** Current state; never throws (a vanished container reads as exited, code -1). */
  exitState(): Promise<ExitState>;
  /** The tail of the log, capped. */
  logTail(maxBytes?: number): Promise<LogTail>;
  /**
   * Stops (SIGTERM, then SIGKILL after `graceSeconds`), records the exit state and log, and
   * removes the container. Idempotent; never throws. Returns the final state and log.
   */
  teardown(graceSeconds?: number): Promise<{ exit: ExitState; log: LogTail }>;
}

/** Options of {@link startArmContainer}. */
export interface StartArmContainerOptions extends ArmContainerSpecInput {
  docker: Docker;
  logger?: Logger;
}

/**
 * Creates and starts an arm's container with {@link armContainerSpec}'s isolation, and finds the
 * address the agent reaches it at. CPUs are capped at what the host has (the engine refuses more).
 * On any failure after creation the container is removed before the error is thrown.
 */
export async function startArmContainer(options: StartArmContainerOptions): Promise<ArmContainer> {
  const { docker } = options;
  const logger = options.logger ?? silentLogger;
  const port = options.port ?? 8000;
  const hostCpus = await docker
    .info()
    .then((info) => Number(info.NCPU) || 1)
    .catch(() => 1);
  const cpus = Math.min(options.limits?.cpus ?? 32, hostCpus);
  const spec = armContainerSpec({ ...options, limits: { ...options.limits, cpus } });
  let container: Docker.Container;
  try {
    container = await docker.createContainer(spec);
  } catch (error) {
    throw dockerError(error, `creating the container for arm ${options.armId} from ${options.image}`);
  }
  const startedAtMs = Date.now();
  let endpoint: string;
  try {
    await container.start();
    endpoint = await endpointOf(container, options, port);
  } catch (error) {
    await container.remove({ force: true, v: true }).catch(() => {});
    if (/setting rlimit type 7/.test(String((error as Error).message))) {
      throw new CacheonError(
        "invalid-config",
        `starting the container for arm ${options.armId}: the engine may not raise open files to ${spec.HostConfig?.Ulimits?.[0]?.Soft}; lower the nofile limit or raise dockerd's LimitNOFILE`,
        { cause: error },
      );
    }
    throw dockerError(error, `starting the container for arm ${options.armId}`);
  }
  logger.info("arm container started", { arm: options.armId, container: options.name, endpoint });

  let finished: Promise<{ exit: ExitState; log: LogTail }> | undefined;
  const exitState = async (): Promise<ExitState> => {
    try {
      const state = (await container.inspect()).State;
      return {
        running: state.Running,
        exitCode: state.Running ? -1 : state.ExitCode,
        oomKilled: state.OOMKilled,
        error: state.Error ?? "",
      };
    } catch {
      return { running: false, exitCode: -1, oomKilled: false, error: "container no longer exists" };
    }
  };
  return {
    id: container.id,
    name: options.name,
    endpoint,
    startedAtMs,
    exitState,
    logTail: (maxBytes) => readLogTail(container, { maxBytes }),
    teardown(graceSeconds = 10) {
      finished ??= (async () => {
        const before = await exitState();
        if (before.running) {
          try {
            await container.stop({ t: Math.max(0, Math.round(graceSeconds)) });
          } catch (error) {
            if ((error as { statusCode?: number }).statusCode !== 304) {
              logger.warn("stop failed; killing", { container: options.name, error: error as Error });
              await container.kill().catch(() => {});
            }
          }
        }
        const exit = await exitState();
        // A container the agent had to stop did not exit on its own: its code says nothing about it.
        const recorded = before.running ? { ...exit, exitCode: -1 } : exit;
        const log = await readLogTail(container);
        await removeWithRetry(container, logger);
        return { exit: recorded, log };
      })();
      return finished;
    },
  };
}

async function endpointOf(container: Docker.Container, options: StartArmContainerOptions, port: number) {
  if (options.network.kind === "host") return `http://127.0.0.1:${port}`;
  const network = options.network.network;
  // The address is assigned at start; inspect until it shows (normally at once).
  for (let attempt = 0; attempt < 20; attempt++) {
    const info = await container.inspect();
    const ip = info.NetworkSettings.Networks[network]?.IPAddress;
    if (ip) return `http://${ip}:${port}`;
    if (!info.State.Running) break;
    await sleep(50);
  }
  throw new CacheonError(
    "unavailable",
    `the container of arm ${options.armId} got no address on network ${network}; it may have exited at once (see its log)`,
  );
}

async function removeWithRetry(container: Docker.Container, logger: Logger): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await container.remove({ force: true, v: true });
      return;
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 404) return;
      // 409 "removal already in progress" settles by itself.
      if (attempt === 4) logger.warn("container not removed", { id: container.id, error: error as Error });
      await sleep(200 * (attempt + 1));
    }
  }
}
