import { spawn } from "node:child_process";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import type { CreatePodRequest, PodProvider, ProviderPod, ProviderPodStatus } from "./pod-provider.ts";

/** An operator script: the program and its arguments (no shell). */
export type OperatorCommand = readonly [string, ...string[]];

/** Options of {@link createCommandProvider}. */
export interface CommandProviderOptions {
  /** Name for logs and cost records. @default "command" */
  name?: string;
  /**
   * Reads `{"podId","profile","maxPricePerHour","userData"}` on stdin; rents a machine; prints
   * one pod object `{"id","host","status","pricePerHour","podId"?}` on stdout.
   */
  create: OperatorCommand;
  /** Reads `{}` on stdin; prints `{"pods":[pod, ...]}` (or a bare array) of every machine held. */
  list: OperatorCommand;
  /** Reads `{"id"}` on stdin; returns the machine; exit 0 also when it is already gone. */
  delete: OperatorCommand;
  /** Longest one script may run before it is killed (with its process group), milliseconds. @default 120000 */
  timeoutMs?: number;
  /** Environment of the scripts, added to the controller's own. @default {} */
  env?: Record<string, string>;
  /** Working directory of the scripts. @default process.cwd() */
  cwd?: string;
  /** Most bytes read from a script's stdout or stderr before it is killed. @default 1 MiB */
  maxOutputBytes?: number;
  /** @default silentLogger */
  logger?: Logger;
}

const statuses: readonly ProviderPodStatus[] = ["provisioning", "running", "terminated"];

/**
 * A provider that runs operator-supplied scripts for create, list and delete, so any cloud's CLI
 * can be plugged in. Each script gets one JSON object on stdin and answers with JSON on stdout;
 * a non-zero exit, a timeout or malformed output is an error naming the script and what to fix.
 */
export function createCommandProvider(options: CommandProviderOptions): PodProvider {
  const name = options.name ?? "command";
  const timeoutMs = options.timeoutMs ?? 120_000;
  const logger = options.logger ?? silentLogger;
  const run = (verb: "create" | "list" | "delete", input: unknown, signal?: AbortSignal) =>
    runOperatorScript({
      provider: name,
      verb,
      command: options[verb],
      input,
      timeoutMs,
      env: options.env ?? {},
      cwd: options.cwd ?? process.cwd(),
      maxOutputBytes: options.maxOutputBytes ?? 1 << 20,
      logger,
      signal,
    });

  const list = async (signal?: AbortSignal): Promise<ProviderPod[]> => {
    const output = await run("list", {}, signal);
    const pods = Array.isArray(output) ? output : (output as { pods?: unknown } | null)?.pods;
    if (!Array.isArray(pods)) {
      throw badOutput(name, "list", options.list, 'expected {"pods": [...]} or an array of pods');
    }
    return pods.map((pod, i) => parseProviderPod(pod, `${name} list: pods[${i}]`));
  };

  return {
    name,
    async create(request: CreatePodRequest, signal?: AbortSignal) {
      const output = await run("create", request, signal);
      return parseProviderPod(output, `${name} create`);
    },
    list,
    async get(id, signal) {
      return (await list(signal)).find((pod) => pod.id === id);
    },
    async release(id, signal) {
      await run("delete", { id }, signal);
    },
  };
}

/**
 * Validates one pod object printed by a script. Throws invalid-argument listing every problem,
 * so an operator fixing the script sees them all at once.
 */
export function parseProviderPod(value: unknown, where: string): ProviderPod {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CacheonError("invalid-argument", `${where}: expected a pod object, got ${describe(value)}`);
  }
  const v = value as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof v.id !== "string" || v.id === "")
    problems.push(`"id" must be a non-empty string (got ${describe(v.id)})`);
  if (typeof v.host !== "string") problems.push(`"host" must be a string (got ${describe(v.host)})`);
  if (typeof v.status !== "string" || !statuses.includes(v.status as ProviderPodStatus)) {
    problems.push(`"status" must be one of ${statuses.join(", ")} (got ${describe(v.status)})`);
  }
  if (typeof v.pricePerHour !== "number" || !Number.isFinite(v.pricePerHour) || v.pricePerHour < 0) {
    problems.push(`"pricePerHour" must be a number >= 0 in USD (got ${describe(v.pricePerHour)})`);
  }
  if (v.podId !== undefined && typeof v.podId !== "string")
    problems.push(`"podId" must be a string when present`);
  if (problems.length) throw new CacheonError("invalid-argument", `${where}: ${problems.join("; ")}`);
  const pod: ProviderPod = {
    id: v.id as string,
    host: v.host as string,
    status: v.status as ProviderPodStatus,
    pricePerHour: v.pricePerHour as number,
  };
  if (typeof v.podId === "string") pod.podId = v.podId;
  return pod;
}

interface ScriptRun {
  provider: string;
  verb: string;
  command: OperatorCommand;
  input: unknown;
  timeoutMs: number;
  env: Record<string, string>;
  cwd: string;
  maxOutputBytes: number;
  logger: Logger;
  signal: AbortSignal | undefined;
}

/** Runs one script in its own process group; kills the whole group on timeout or abort. */
async function runOperatorScript(run: ScriptRun): Promise<unknown> {
  const label = `${run.provider} ${run.verb} script \`${run.command.join(" ")}\``;
  run.signal?.throwIfAborted();
  const started = Date.now();
  const child = spawn(run.command[0], run.command.slice(1), {
    cwd: run.cwd,
    env: { ...process.env, ...run.env },
    stdio: ["pipe", "pipe", "pipe"],
    detached: true,
  });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  let outBytes = 0;
  let ended: "timeout" | "abort" | "overflow" | undefined;
  const kill = (why: typeof ended) => {
    ended ??= why;
    try {
      if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
    } catch {
      child.kill("SIGKILL");
    }
  };
  const collect = (into: Buffer[]) => (chunk: Buffer) => {
    outBytes += chunk.length;
    if (outBytes > run.maxOutputBytes) kill("overflow");
    else into.push(chunk);
  };
  child.stdout.on("data", collect(stdout));
  child.stderr.on("data", collect(stderr));
  const timer = setTimeout(() => kill("timeout"), run.timeoutMs);
  const onAbort = () => kill("abort");
  run.signal?.addEventListener("abort", onAbort, { once: true });
  // A script that exits without reading stdin makes the write fail with EPIPE; its exit code decides.
  child.stdin.on("error", () => {});
  child.stdin.end(`${JSON.stringify(run.input)}\n`);
  let exit: { code: number | null; signal: NodeJS.Signals | null };
  try {
    exit = await new Promise((resolve, reject) => {
      child.once("error", reject);
      child.once("close", (code, signal) => resolve({ code, signal }));
    });
  } catch (error) {
    throw new CacheonError(
      "invalid-config",
      `${label} could not be started: ${(error as Error).message}; check the provider's command path and that it is executable`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
    run.signal?.removeEventListener("abort", onAbort);
  }
  const errText = tail(Buffer.concat(stderr).toString("utf8"));
  run.logger.debug("operator script finished", {
    provider: run.provider,
    verb: run.verb,
    ms: Date.now() - started,
    code: exit.code,
  });
  if (ended === "abort") throw new CacheonError("cancelled", `${label} was cancelled`);
  if (ended === "timeout") {
    throw new CacheonError(
      "deadline-exceeded",
      `${label} did not finish within ${run.timeoutMs} ms and was killed; make it faster or raise the provider's timeout${errText ? `; stderr: ${errText}` : ""}`,
    );
  }
  if (ended === "overflow") {
    throw new CacheonError(
      "resource-exhausted",
      `${label} printed more than ${run.maxOutputBytes} bytes and was killed; print one JSON document only`,
    );
  }
  if (exit.code !== 0) {
    throw new CacheonError(
      "unavailable",
      `${label} failed with ${exit.code === null ? `signal ${exit.signal}` : `exit code ${exit.code}`}${errText ? `; stderr: ${errText}` : "; it printed nothing on stderr"}`,
    );
  }
  if (run.verb === "delete") return undefined;
  const text = Buffer.concat(stdout).toString("utf8").trim();
  if (text === "") throw badOutput(run.provider, run.verb, run.command, "it printed nothing on stdout");
  try {
    return JSON.parse(text);
  } catch {
    throw badOutput(
      run.provider,
      run.verb,
      run.command,
      `stdout is not JSON: ${JSON.stringify(text.slice(0, 200))}`,
    );
  }
}

function badOutput(provider: string, verb: string, command: OperatorCommand, why: string): CacheonError {
  return new CacheonError(
    "invalid-argument",
    `${provider} ${verb} script \`${command.join(" ")}\` printed unusable output: ${why}; see docs/providers.md for the JSON it must print`,
  );
}

function tail(text: string): string {
  const trimmed = text.trim();
  return trimmed.length > 500 ? `...${trimmed.slice(-500)}` : trimmed;
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 60)}...` : text;
}
