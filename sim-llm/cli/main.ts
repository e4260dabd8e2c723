import { parseArgs } from "node:util";
import { ExitCode } from "../../shared/cli/cli-command.ts";
import type { ConfigSchema } from "../../shared/config/config-schema.ts";
import { loadConfig } from "../../shared/config/load-config.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { createLogger } from "../../shared/log/logger.ts";
import { defaultServingTiming, type ServingTiming } from "../serving-engine.ts";
import { type SimLlmMode, simLlmModes } from "../sim-llm-mode.ts";
import { defaultModelName, startSimLlm } from "../sim-llm-server.ts";

/** Settings of cacheon-sim-llm: flags override `CACHEON_SIM_*` variables, which override defaults. */
export const simLlmConfigSchema: ConfigSchema = {
  port: {
    type: "integer",
    doc: "TCP port (0 = any free port)",
    default: 8000,
    min: 0,
    max: 65535,
    flag: "port",
  },
  host: { type: "string", doc: "address to listen on", default: "127.0.0.1", flag: "host" },
  model: { type: "string", doc: "served model name", default: defaultModelName, flag: "model" },
  speed: {
    type: "number",
    doc: "speed factor (1.05 = 5% faster than the baseline)",
    default: 1,
    min: 0.01,
    flag: "speed",
  },
  jitter: {
    type: "number",
    doc: "relative timing noise per run and per step",
    default: 0,
    min: 0,
    max: 1,
    flag: "jitter",
  },
  numericNoise: {
    type: "number",
    doc: "std-dev of seeded logit noise, in nats",
    default: 0,
    min: 0,
    max: 5,
    flag: "numeric-noise",
  },
  noiseSeed: {
    type: "integer",
    doc: "seed of the numeric noise (default: random per process, like a GPU run)",
    min: 0,
    max: 4294967295,
    flag: "noise-seed",
  },
  mode: { type: "string", doc: "behaviour", default: "honest", values: simLlmModes, flag: "mode" },
  readyDelayS: {
    type: "number",
    doc: "seconds from binding the port to /health 200",
    default: 0,
    min: 0,
    flag: "ready-delay",
  },
  crashAfter: {
    type: "integer",
    doc: "with --mode crash-after: requests served before exiting",
    default: 3,
    min: 0,
    flag: "crash-after",
  },
  timing: {
    type: "string",
    doc: "serving-speed overrides, e.g. decodeStepBaseMs=0,prefillBaseMs=0",
    default: "",
    flag: "timing",
  },
};

/** Parses `key=value,...` into serving-timing overrides; throws naming the bad part. */
export function parseTiming(text: string): Partial<ServingTiming> {
  const out: Partial<ServingTiming> = {};
  for (const part of text
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [key, raw] = part.split("=");
    const value = Number(raw);
    if (!key || !(key in defaultServingTiming) || raw === undefined || !Number.isFinite(value) || value < 0) {
      throw new CacheonError(
        "invalid-config",
        `--timing: "${part}" is not key=number with key one of ${Object.keys(defaultServingTiming).join(", ")}`,
      );
    }
    out[key as keyof ServingTiming] = value;
  }
  return out;
}

const help = `cacheon-sim-llm: a deterministic stand-in for vLLM serving Qwen2.5-72B-Instruct, with a realistic
serving-speed model and switchable misbehaviours (for tests and the demo).

Usage: cacheon-sim-llm [--port P] [--host H] [--speed X] [--jitter X] [--numeric-noise X]
                       [--mode NAME] [--ready-delay S] [--crash-after N] [--model NAME]
                       [--timing K=V,...] [--json]

Options (each also settable as an environment variable):
  --port P            TCP port, 0 = any free one            CACHEON_SIM_PORT        (default 8000)
  --host H            address to listen on                   CACHEON_SIM_HOST        (default 127.0.0.1)
  --model NAME        served model name                      CACHEON_SIM_MODEL       (default ${defaultModelName})
  --speed X           speed factor, 1.05 = 5% faster         CACHEON_SIM_SPEED       (default 1)
  --jitter X          relative timing noise                  CACHEON_SIM_JITTER      (default 0)
  --numeric-noise X   logit noise in nats (GPU numerics)     CACHEON_SIM_NUMERIC_NOISE (default 0)
  --noise-seed N      seed of that noise (default random)    CACHEON_SIM_NOISE_SEED
  --mode NAME         behaviour                              CACHEON_SIM_MODE        (default honest)
  --ready-delay S     seconds until /health answers 200      CACHEON_SIM_READY_DELAY_S (default 0)
  --crash-after N     with --mode crash-after: requests served before the process exits
                                                             CACHEON_SIM_CRASH_AFTER (default 3)
  --timing K=V,...    serving-speed overrides (ms): prefillBaseMs, prefillMsPerPromptToken,
                      decodeStepBaseMs, decodeStepMsPerRunning, maxBatch, chunkTokens
                                                             CACHEON_SIM_TIMING
  --json              print one JSON line {url, port, mode} once listening, and JSON logs
  -h, --help          this text

Modes: ${simLlmModes.join(", ")}.

Endpoints: POST /v1/chat/completions, POST /v1/completions, POST /tokenize, POST /detokenize,
GET /health, GET /v1/models.

Exit codes: 0 stopped by SIGINT/SIGTERM, 1 crashed on purpose (--mode crash-after) or failed,
2 bad flags or environment.
`;

/** Runs cacheon-sim-llm with the process's arguments until SIGINT/SIGTERM. */
export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  process.exitCode = await run(argv);
}

async function run(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(
      Object.values(simLlmConfigSchema)
        .filter((s) => s.flag)
        .map((s) => [s.flag as string, { type: "string" as const }]),
    );
    values = parseArgs({
      args: argv,
      options: { ...options, help: { type: "boolean", short: "h" }, json: { type: "boolean" } },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    process.stderr.write(`cacheon-sim-llm: ${(error as Error).message}\nRun \`cacheon-sim-llm --help\`.\n`);
    return ExitCode.usage;
  }
  if (values.help) {
    process.stdout.write(help);
    return ExitCode.ok;
  }
  let config: Record<string, unknown>;
  let timing: Partial<ServingTiming>;
  try {
    config = loadConfig({
      schema: simLlmConfigSchema,
      envPrefix: "CACHEON_SIM_",
      env: process.env,
      flags: values,
    }).values;
    timing = parseTiming(config.timing as string);
  } catch (error) {
    process.stderr.write(`cacheon-sim-llm: ${(error as Error).message}\n`);
    return ExitCode.usage;
  }
  const json = Boolean(values.json);
  const logger = createLogger({ format: json ? "json" : undefined, fields: { program: "cacheon-sim-llm" } });
  let crashed = false;
  const stopped = new AbortController();
  let server: Awaited<ReturnType<typeof startSimLlm>>;
  try {
    server = await startSimLlm({
      port: config.port as number,
      host: config.host as string,
      model: config.model as string,
      speed: config.speed as number,
      jitter: config.jitter as number,
      numericNoise: config.numericNoise as number,
      ...(config.noiseSeed === undefined ? {} : { noiseSeed: config.noiseSeed as number }),
      mode: config.mode as SimLlmMode,
      readyDelayMs: (config.readyDelayS as number) * 1000,
      crashAfterRequests: config.crashAfter as number,
      timing,
      logger,
      onCrash: () => {
        crashed = true;
        stopped.abort();
      },
    });
  } catch (error) {
    process.stderr.write(`cacheon-sim-llm: ${CacheonError.from(error).message}\n`);
    return ExitCode.usage;
  }
  const line = {
    url: server.url,
    port: server.port,
    mode: config.mode,
    model: config.model,
    speed: config.speed,
  };
  process.stdout.write(
    json ? `${JSON.stringify(line)}\n` : `cacheon-sim-llm listening on ${server.url} (mode ${config.mode})\n`,
  );
  const onSignal = () => stopped.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  await new Promise<void>((resolve) =>
    stopped.signal.addEventListener("abort", () => resolve(), { once: true }),
  );
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  await server.close();
  if (crashed) {
    process.stderr.write("cacheon-sim-llm: crashed on purpose (--mode crash-after)\n");
    // Exit at once, as a crashing server would, instead of draining.
    process.exit(ExitCode.negative);
  }
  return ExitCode.ok;
}

if (import.meta.main) await main();
