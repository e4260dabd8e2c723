import { execFile } from "node:child_process";
import type Dockerode from "dockerode";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import type { BandwidthRunner } from "./bandwidth-check.ts";
import { gpuScriptText, pythonScriptBootstrap, writeGpuScripts } from "./gpu-scripts.ts";

/**
 * Variables every GPU script runs with, whatever the caller's environment says: NVLink multicast
 * off (on shared hosts it can put the GPUs out of service, and the thresholds were measured
 * without it) and unbuffered output.
 */
export const gpuScriptEnv: Readonly<Record<string, string>> = {
  NCCL_NVLS_ENABLE: "0",
  TORCH_SYMM_MEM_DISABLE_MULTICAST: "1",
  NVSHMEM_DISABLE_NVLS: "1",
  PYTHONUNBUFFERED: "1",
};

/** Variables removed from a GPU script's environment: code injected into it could fake its figures. */
const scrubbed = ["LD_PRELOAD", "LD_AUDIT", "LD_PROFILE"];

/** Options of {@link localBandwidthRunner}. */
export interface LocalBandwidthRunnerOptions {
  /** Python with PyTorch. @default "python3" */
  python?: string;
  /** Extra arguments per script, e.g. `{ "gpu_copy_bandwidth.py": ["--bytes", "268435456"] }`. */
  args?: Partial<Record<string, string[]>>;
  /** Environment of the script (loader overrides are removed, multicast turned off). @default process.env */
  env?: Record<string, string | undefined>;
  /** @default 300000 */
  timeoutMs?: number;
}

/**
 * Runs a script with a Python on this machine (a pod whose host has PyTorch, or a dev box). The
 * script is written to a private temporary folder from the agent's own copy (embedded in the
 * bundle), run by path, and the folder removed afterwards.
 */
export function localBandwidthRunner(options: LocalBandwidthRunnerOptions = {}): BandwidthRunner {
  return async ({ script, signal }) => {
    const python = options.python ?? "python3";
    const env: Record<string, string | undefined> = { ...(options.env ?? process.env), ...gpuScriptEnv };
    for (const name of scrubbed) delete env[name];
    const written = await writeGpuScripts();
    try {
      return await new Promise<string>((resolve, reject) => {
        execFile(
          python,
          [written.path(script), ...(options.args?.[script] ?? [])],
          {
            env: env as NodeJS.ProcessEnv,
            cwd: written.dir,
            signal,
            timeout: options.timeoutMs ?? 300_000,
            maxBuffer: 16 * 1024 * 1024,
            encoding: "utf8",
          },
          (error, stdout) => {
            // The scripts exit 2 with a JSON reason when they cannot measure: let the parser say it.
            if (error && !stdout.trim().startsWith("{")) {
              reject(
                new CacheonError("unavailable", `${python} could not run ${script}: ${error.message}`, {
                  cause: error,
                }),
              );
            } else resolve(stdout);
          },
        );
      });
    } finally {
      await written.remove();
    }
  };
}

/** Options of {@link dockerBandwidthRunner}. */
export interface DockerBandwidthRunnerOptions {
  docker: Dockerode;
  /** The pinned baseline image (it carries PyTorch), already pulled. */
  image: string;
  /** Extra arguments per script. */
  args?: Partial<Record<string, string[]>>;
  /** @default 300000 */
  timeoutMs?: number;
}

/**
 * Runs a script inside the baseline image with every GPU and no network. The script travels in an
 * environment variable and a `python3 -c` bootstrap writes it to a file in the container, so no
 * mount is needed (the engine may be remote) and the all-reduce can start workers of itself; the
 * container is removed afterwards.
 */
export function dockerBandwidthRunner(options: DockerBandwidthRunnerOptions): BandwidthRunner {
  return async ({ script, signal }) => {
    const { docker, image } = options;
    let container: Dockerode.Container | undefined;
    const timeoutMs = options.timeoutMs ?? 300_000;
    try {
      container = await docker.createContainer({
        Image: image,
        Entrypoint: ["python3", "-c", pythonScriptBootstrap, script],
        Cmd: options.args?.[script] ?? [],
        Labels: { "cacheon.role": "hardware-bandwidth" },
        Env: [
          ...Object.entries(gpuScriptEnv).map(([k, v]) => `${k}=${v}`),
          `CACHEON_GPU_SCRIPT=${gpuScriptText(script)}`,
        ],
        HostConfig: {
          NetworkMode: "none",
          ShmSize: 1024 ** 3,
          DeviceRequests: [{ Driver: "nvidia", Count: -1, Capabilities: [["gpu"]] }],
        },
      });
      await container.start();
      const onAbort = () => void container?.kill().catch(() => {});
      signal?.addEventListener("abort", onAbort, { once: true });
      const timer = setTimeout(onAbort, timeoutMs);
      try {
        await container.wait();
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      }
      if (signal?.aborted) throw new CacheonError("cancelled", "the bandwidth check was cancelled");
      return await readStdout(container);
    } catch (error) {
      throw translateDockerError(error, image);
    } finally {
      await container?.remove({ force: true }).catch(() => {});
    }
  };
}

async function readStdout(container: Dockerode.Container): Promise<string> {
  const raw = (await container.logs({ stdout: true, stderr: false, follow: false })) as unknown as Buffer;
  return demuxDockerLogs(Buffer.from(raw)).stdout;
}

/** Splits Docker's multiplexed log stream (8-byte frame headers: stream, 0, 0, 0, size BE). Pure. */
export function demuxDockerLogs(raw: Buffer): { stdout: string; stderr: string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= raw.length) {
    const stream = raw[offset];
    const size = raw.readUInt32BE(offset + 4);
    const body = raw.subarray(offset + 8, offset + 8 + size);
    if (stream === 2) err.push(body);
    else out.push(body);
    offset += 8 + size;
  }
  return { stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") };
}

function translateDockerError(error: unknown, image: string): CacheonError {
  if (error instanceof CacheonError) return error;
  const e = error as { statusCode?: number; message?: string };
  const message = e.message ?? String(error);
  if (e.statusCode === 404 && /image/i.test(message)) {
    return new CacheonError(
      "not-found",
      `image ${image} is not on this machine: pull the baseline image before the bandwidth check`,
      { cause: error },
    );
  }
  if (/device driver|nvidia/i.test(message)) {
    return new CacheonError(
      "failed-precondition",
      `Docker cannot give the container GPUs (${message.trim()}): install the NVIDIA Container Toolkit`,
      { cause: error },
    );
  }
  if (/ECONNREFUSED|ENOENT|socket/i.test(message)) {
    return new CacheonError(
      "unavailable",
      `Docker did not answer (${message.trim()}): start dockerd or set DOCKER_HOST`,
      { cause: error },
    );
  }
  return new CacheonError("unavailable", `the bandwidth container failed: ${message.trim()}`, {
    cause: error,
  });
}
