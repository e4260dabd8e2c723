/**
 * How the controller launches the baseline, and the writable caches every arm gets (config
 * `baseline.*` and `arms.cacheDirMiB`).
 */
export interface ArmLaunchSettings {
  /**
   * "recipe": start the baseline with `command`, `args` and `env` (the stock vLLM image needs to be
   * told its model, served name, tensor-parallel size, port and logprobs). "image": run the
   * baseline image's own entrypoint and command (an image built to serve on its own, such as the
   * sim-llm images of demos and tests). Miners' images always keep their own.
   */
  baseline: "recipe" | "image";
  /** Replaces the baseline image's ENTRYPOINT when not empty. */
  command: string[];
  /** The baseline's arguments; placeholders as in {@link launchPlaceholders}. */
  args: string[];
  /** The baseline's extra environment, "NAME=value" (placeholders allowed in values). */
  env: string[];
  /** Size cap of each writable cache directory, bytes. */
  cacheDirBytes: number;
  /** Tensor-parallel size: the hardware profile's GPU count (1 when the profile names none). */
  gpuCount: number;
}

/** The placeholders a recipe may use, each written {name}. */
export const launchPlaceholders = ["model", "modelDir", "gpus", "port", "maxLogprobs"] as const;

/**
 * The stock vLLM image's recipe. Its entrypoint (`vllm serve`) is kept; `--generation-config vllm`
 * stops vLLM from applying the model's generation_config.json as request defaults (Qwen2.5's
 * repetition_penalty 1.05 would otherwise change greedy answers that requests never asked for).
 * vLLM serves /tokenize and /detokenize without a flag; teacher forcing needs them.
 */
export const stockVllmRecipe = {
  command: [] as string[],
  args: [
    "--model",
    "{modelDir}",
    "--served-model-name",
    "{model}",
    "--tensor-parallel-size",
    "{gpus}",
    "--port",
    "{port}",
    "--max-logprobs",
    "{maxLogprobs}",
    "--generation-config",
    "vllm",
  ],
  // The container has no network: no hub lookups, no usage reports.
  env: ["HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1", "VLLM_NO_USAGE_STATS=1", "DO_NOT_TRACK=1"],
};

/** The default launch: the stock vLLM recipe, 8 GiB per cache directory, the 8 GPUs of the h200x8 profile. */
export const defaultArmLaunch: ArmLaunchSettings = {
  baseline: "recipe",
  ...stockVllmRecipe,
  cacheDirBytes: 8 * 1024 ** 3,
  gpuCount: 8,
};

/**
 * Writable cache directories of every arm (each a tmpfs the agent mounts) and the variables that
 * point the usual tools at them; the rest of the image stays read-only.
 */
export const armCacheDirs: Readonly<Record<string, string>> = {
  HOME: "/cacheon/home",
  XDG_CACHE_HOME: "/cacheon/cache",
  TRITON_CACHE_DIR: "/cacheon/triton",
  VLLM_CACHE_ROOT: "/cacheon/vllm",
};

/** What an arm's launch adds to the contract's Arm (cmd, args, env, writable_dirs). */
export interface ArmLaunch {
  cmd: string[];
  args: string[];
  env: Record<string, string>;
  writableDirs: { path: string; sizeBytes: bigint }[];
}

/** Facts of the job the placeholders are filled from. */
export interface LaunchFacts {
  /** Served model name (the workload's). */
  model: string;
  /** top_logprobs the workload asks for. */
  topLogprobs: number;
}

/** The launch facts of a workload given as protobuf JSON (RoundSettings.workload). */
export function launchFacts(workload: unknown): LaunchFacts {
  const w = (workload ?? {}) as { model?: unknown; topLogprobs?: unknown };
  return {
    model: typeof w.model === "string" ? w.model : "",
    topLogprobs: typeof w.topLogprobs === "number" ? w.topLogprobs : 0,
  };
}

/** The port every arm serves on (the agent probes it; miners' contract). */
export const armPort = 8000;

/**
 * The launch fields of one arm. Pure. Every arm gets the writable caches; the baseline also gets
 * the recipe with its placeholders filled, unless the settings keep the image's own. vLLM refuses
 * a request for more top_logprobs than --max-logprobs; 20 is its own default, so never lower.
 */
export function armLaunch(settings: ArmLaunchSettings, baseline: boolean, facts: LaunchFacts): ArmLaunch {
  const env: Record<string, string> = { ...armCacheDirs };
  const writableDirs = Object.values(armCacheDirs).map((path) => ({
    path,
    sizeBytes: BigInt(settings.cacheDirBytes),
  }));
  if (!baseline || settings.baseline === "image") return { cmd: [], args: [], env, writableDirs };
  const values: Record<(typeof launchPlaceholders)[number], string> = {
    model: facts.model,
    modelDir: "/model",
    gpus: String(Math.max(1, settings.gpuCount)),
    port: String(armPort),
    maxLogprobs: String(Math.max(20, facts.topLogprobs)),
  };
  const fill = (text: string) =>
    text.replace(/\{(\w+)\}/g, (_, name: string) => values[name as keyof typeof values] ?? `{${name}}`);
  for (const entry of settings.env) {
    const eq = entry.indexOf("=");
    env[entry.slice(0, eq)] = fill(entry.slice(eq + 1));
  }
  return { cmd: settings.command.map(fill), args: settings.args.map(fill), env, writableDirs };
}

/** Problems of a recipe (unknown placeholders, malformed env entries), for configuration checks. Pure. */
export function recipeProblems(recipe: Pick<ArmLaunchSettings, "command" | "args" | "env">): string[] {
  const problems: string[] = [];
  const known = new Set<string>(launchPlaceholders);
  const check = (key: string, text: string) => {
    for (const [, name] of text.matchAll(/\{(\w+)\}/g)) {
      if (!known.has(name as string)) {
        problems.push(
          `${key}: unknown placeholder {${name}} in ${JSON.stringify(text)}; use ${launchPlaceholders.map((p) => `{${p}}`).join(", ")}`,
        );
      }
    }
  };
  for (const part of recipe.command) check("baseline.command", part);
  for (const part of recipe.args) check("baseline.args", part);
  for (const entry of recipe.env) {
    const eq = entry.indexOf("=");
    const name = entry.slice(0, eq);
    if (eq < 1 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      problems.push(`baseline.env: ${JSON.stringify(entry)} is not NAME=value`);
    } else if (name === "PORT" || name in armCacheDirs) {
      problems.push(`baseline.env: ${name} is set by the agent or for the caches; leave it out`);
    }
    check("baseline.env", entry.slice(eq + 1));
  }
  return problems;
}
