import { describe, expect, it } from "vitest";
import {
  armCacheDirs,
  armLaunch,
  defaultArmLaunch,
  launchFacts,
  recipeProblems,
  stockVllmRecipe,
} from "./arm-launch.ts";

const gib = 1024 ** 3;
const facts = { model: "Qwen/Qwen2.5-72B-Instruct", topLogprobs: 5 };
const caches = Object.values(armCacheDirs).map((path) => ({ path, sizeBytes: 8n * BigInt(gib) }));

describe("armLaunch", () => {
  it("starts the stock vLLM baseline with the model dir, served name, TP = the profile's GPUs, port 8000 and logprobs", () => {
    const launch = armLaunch(defaultArmLaunch, true, facts);
    expect(launch.cmd).toEqual([]);
    expect(launch.args).toEqual([
      "--model",
      "/model",
      "--served-model-name",
      "Qwen/Qwen2.5-72B-Instruct",
      "--tensor-parallel-size",
      "8",
      "--port",
      "8000",
      "--max-logprobs",
      "20",
      "--generation-config",
      "vllm",
    ]);
    expect(launch.env).toEqual({
      HOME: "/cacheon/home",
      XDG_CACHE_HOME: "/cacheon/cache",
      TRITON_CACHE_DIR: "/cacheon/triton",
      VLLM_CACHE_ROOT: "/cacheon/vllm",
      HF_HUB_OFFLINE: "1",
      TRANSFORMERS_OFFLINE: "1",
      VLLM_NO_USAGE_STATS: "1",
      DO_NOT_TRACK: "1",
    });
    expect(launch.writableDirs).toEqual(caches);
  });

  it.each([
    ["more logprobs than vLLM's default", { topLogprobs: 32 }, "32"],
    ["fewer (never below vLLM's own 20)", { topLogprobs: 0 }, "20"],
  ])("asks for enough logprobs: %s", (_what, change, expected) => {
    const args = armLaunch(defaultArmLaunch, true, { ...facts, ...change }).args;
    expect(args[args.indexOf("--max-logprobs") + 1]).toBe(expected);
  });

  it("keeps a miner's entrypoint and command, giving it the same writable caches", () => {
    expect(armLaunch(defaultArmLaunch, false, facts)).toEqual({
      cmd: [],
      args: [],
      env: { ...armCacheDirs },
      writableDirs: caches,
    });
  });

  it("keeps the baseline image's own launch when told to, and fills placeholders in command and env", () => {
    const settings = { ...defaultArmLaunch, gpuCount: 0 };
    expect(armLaunch({ ...settings, baseline: "image" }, true, facts).args).toEqual([]);
    const custom = armLaunch(
      {
        ...settings,
        command: ["python3", "-m", "vllm.entrypoints.openai.api_server"],
        args: ["--tensor-parallel-size", "{gpus}", "--unknown", "{nope}"],
        env: ["SERVED={model}"],
      },
      true,
      facts,
    );
    expect(custom.cmd).toEqual(["python3", "-m", "vllm.entrypoints.openai.api_server"]);
    // No GPUs in the profile: one tensor-parallel rank. An unknown placeholder is left as written
    // (the configuration check refuses it before any job is planned).
    expect(custom.args).toEqual(["--tensor-parallel-size", "1", "--unknown", "{nope}"]);
    expect(custom.env.SERVED).toBe("Qwen/Qwen2.5-72B-Instruct");
  });

  it("reads the facts from a workload in protobuf JSON", () => {
    expect(launchFacts({ model: "m", topLogprobs: 7, requests: 3 })).toEqual({ model: "m", topLogprobs: 7 });
    expect(launchFacts(undefined)).toEqual({ model: "", topLogprobs: 0 });
  });
});

describe("recipeProblems", () => {
  it("accepts the stock recipe", () => {
    expect(recipeProblems(stockVllmRecipe)).toEqual([]);
  });

  it("names unknown placeholders, malformed env and variables the agent owns", () => {
    const problems = recipeProblems({
      command: ["{entry}"],
      args: ["--x", "{gpu}"],
      env: ["NOEQUALS", "PORT=1", "HOME=/root", "OK={model}"],
    });
    expect(problems).toEqual([
      expect.stringMatching(/^baseline\.command: unknown placeholder \{entry\}/),
      expect.stringMatching(/^baseline\.args: unknown placeholder \{gpu\}/),
      'baseline.env: "NOEQUALS" is not NAME=value',
      "baseline.env: PORT is set by the agent or for the caches; leave it out",
      "baseline.env: HOME is set by the agent or for the caches; leave it out",
    ]);
  });
});
