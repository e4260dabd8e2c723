import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import type Dockerode from "dockerode";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import {
  type BandwidthCheck,
  BandwidthCheckSchema,
  PairBandwidthSchema,
} from "../../shared/gen/cacheon/v1/hardware_pb.ts";

/**
 * Runs the copy-bandwidth script somewhere with GPUs and returns its stdout (one JSON object).
 * The probe parses it and applies the profile's threshold.
 */
export type BandwidthRunner = (options: { signal?: AbortSignal | undefined }) => Promise<string>;

/** Path of `gpu_copy_bandwidth.py`, from the source tree or next to a built dist/. */
export function bandwidthScriptPath(): string {
  const candidates = [
    join(import.meta.dirname, "bandwidth", "gpu_copy_bandwidth.py"),
    join(import.meta.dirname, "..", "..", "..", "agent", "hardware", "bandwidth", "gpu_copy_bandwidth.py"),
  ];
  const found = candidates.find((p) => existsSync(p));
  if (!found)
    throw new CacheonError("internal", `gpu_copy_bandwidth.py not found in ${candidates.join(" or ")}`);
  return found;
}

/**
 * Parses the script's JSON and marks it ok when every pair reached `minGbPerS`. Throws
 * `unavailable` when the script reported that it could not measure, `invalid-argument` when
 * the output is not the script's JSON.
 */
export function parseBandwidthOutput(stdout: string, minGbPerS: number): BandwidthCheck {
  const line = stdout
    .trim()
    .split(/\r?\n/)
    .reverse()
    .find((l) => l.trim().startsWith("{"));
  let parsed: unknown;
  try {
    parsed = JSON.parse(line ?? "");
  } catch {
    throw new CacheonError(
      "invalid-argument",
      `the bandwidth script printed no JSON (got "${stdout.trim().slice(0, 120)}"): check that the image runs python3`,
    );
  }
  const data = parsed as {
    ok?: unknown;
    error?: unknown;
    bytes_per_copy?: unknown;
    pairs?: { src?: unknown; dst?: unknown; gb_per_s?: unknown }[];
  };
  if (data.ok !== true) {
    throw new CacheonError(
      "unavailable",
      `the bandwidth check could not measure: ${String(data.error ?? "no reason given")}`,
    );
  }
  if (!Array.isArray(data.pairs) || data.pairs.length === 0 || typeof data.bytes_per_copy !== "number") {
    throw new CacheonError(
      "invalid-argument",
      "the bandwidth script's JSON has no pairs or no bytes_per_copy",
    );
  }
  const pairs = data.pairs.map((p, i) => {
    if (
      typeof p.src !== "number" ||
      typeof p.dst !== "number" ||
      typeof p.gb_per_s !== "number" ||
      !Number.isFinite(p.gb_per_s)
    ) {
      throw new CacheonError(
        "invalid-argument",
        `the bandwidth script's pair ${i} is malformed: ${JSON.stringify(p)}`,
      );
    }
    return create(PairBandwidthSchema, { src: p.src, dst: p.dst, gbPerS: p.gb_per_s });
  });
  return create(BandwidthCheckSchema, {
    ok: pairs.every((p) => p.gbPerS >= minGbPerS),
    bytesPerCopy: BigInt(Math.trunc(data.bytes_per_copy)),
    pairs,
    minGbPerS,
  });
}

/** Options of {@link localBandwidthRunner}. */
export interface LocalBandwidthRunnerOptions {
  /** Python with PyTorch. @default "python3" */
  python?: string;
  /** Extra script arguments, e.g. ["--bytes", "268435456"]. @default [] */
  args?: string[];
  /** Environment of the script. @default process.env */
  env?: Record<string, string | undefined>;
  /** @default 300000 */
  timeoutMs?: number;
}

/** Runs the script with a Python on this machine (a pod whose host has PyTorch, or a dev box). */
export function localBandwidthRunner(options: LocalBandwidthRunnerOptions = {}): BandwidthRunner {
  return ({ signal }) =>
    new Promise((resolve, reject) => {
      const python = options.python ?? "python3";
      execFile(
        python,
        [bandwidthScriptPath(), ...(options.args ?? [])],
        {
          env: (options.env ?? process.env) as NodeJS.ProcessEnv,
          signal,
          timeout: options.timeoutMs ?? 300_000,
          encoding: "utf8",
        },
        (error, stdout) => {
          // The script exits 2 with a JSON reason when it cannot measure: let the parser say it.
          if (error && !stdout.trim().startsWith("{")) {
            reject(
              new CacheonError(
                "unavailable",
                `${python} could not run the bandwidth script: ${error.message}`,
                { cause: error },
              ),
            );
          } else resolve(stdout);
        },
      );
    });
}

/** Options of {@link dockerBandwidthRunner}. */
export interface DockerBandwidthRunnerOptions {
  docker: Dockerode;
  /** The pinned baseline image (it carries PyTorch), already pulled. */
  image: string;
  /** Extra script arguments. @default [] */
  args?: string[];
  /** @default 300000 */
  timeoutMs?: number;
}

/**
 * Runs the script inside the baseline image with every GPU and no network. The script travels
 * as `python3 -c` so no mount is needed; the container is removed afterwards.
 */
export function dockerBandwidthRunner(options: DockerBandwidthRunnerOptions): BandwidthRunner {
  return async ({ signal }) => {
    const { docker, image } = options;
    const script = readFileSync(bandwidthScriptPath(), "utf8");
    let container: Dockerode.Container | undefined;
    const timeoutMs = options.timeoutMs ?? 300_000;
    try {
      container = await docker.createContainer({
        Image: image,
        Entrypoint: ["python3", "-c", script, "gpu_copy_bandwidth.py"],
        Cmd: options.args ?? [],
        Labels: { "cacheon.role": "hardware-bandwidth" },
        Env: ["NCCL_NVLS_ENABLE=0", "PYTHONUNBUFFERED=1"],
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
