// A stand-in for the stock vLLM image, for tests of the baseline's launch recipe. It runs inside an
// image built on the sim-llm baseline (vllm-stand-in-image.ts) and behaves as `vllm serve` would
// about its launch: it refuses to start (exit 2, one line per problem, as argparse does) unless it
// was given vLLM's arguments and the container gives it what vLLM needs (writable, executable
// caches; a read-only root and model; no hub access). Then it serves the sim-llm model under the
// served name on the given port, with /tokenize for teacher forcing.
import { accessSync, constants, readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { startSimLlm } from "../../../sim-llm/sim-llm-server.ts";

const problems: string[] = [];
let values: Record<string, string | boolean | undefined> = {};
try {
  values = parseArgs({
    args: process.argv.slice(2),
    options: {
      model: { type: "string" },
      "served-model-name": { type: "string" },
      "tensor-parallel-size": { type: "string" },
      port: { type: "string" },
      "max-logprobs": { type: "string" },
      "generation-config": { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  }).values;
} catch (error) {
  problems.push((error as Error).message);
}
const positive = (flag: string) => {
  const n = Number(values[flag]);
  if (!Number.isInteger(n) || n < 1)
    problems.push(`--${flag} must be a positive integer, got ${values[flag]}`);
  return n;
};
if (values.model !== "/model") problems.push(`--model must be /model, got ${values.model}`);
const served = values["served-model-name"];
if (typeof served !== "string" || served === "") problems.push("--served-model-name is missing");
const tensorParallel = positive("tensor-parallel-size");
const port = positive("port");
const maxLogprobs = positive("max-logprobs");
if (values["generation-config"] !== "vllm") problems.push("--generation-config vllm is missing");
if (process.env.HF_HUB_OFFLINE !== "1")
  problems.push("HF_HUB_OFFLINE=1 is not set (the container has no network)");

// What vLLM, Triton and torch.compile write: each must be a writable tmpfs that allows exec.
const mounts = readFileSync("/proc/self/mounts", "utf8")
  .split("\n")
  .map((line) => line.split(" "))
  .filter((f) => f.length > 3);
const mountOf = (path: string) => mounts.find((f) => f[1] === path);
const caches: Record<string, string> = {};
for (const name of ["HOME", "XDG_CACHE_HOME", "TRITON_CACHE_DIR", "VLLM_CACHE_ROOT"]) {
  const dir = process.env[name];
  if (!dir) {
    problems.push(`${name} is not set`);
    continue;
  }
  caches[name] = dir;
  const mount = mountOf(dir);
  if (mount?.[2] !== "tmpfs") problems.push(`${name}=${dir} is not a tmpfs mount`);
  else if (mount[3]?.split(",").includes("noexec")) problems.push(`${name}=${dir} is mounted noexec`);
  try {
    writeFileSync(`${dir}/.vllm-stand-in`, "x");
  } catch (error) {
    problems.push(`${name}=${dir} is not writable (${(error as NodeJS.ErrnoException).code})`);
  }
}
const readOnly = (path: string, what: string) => {
  try {
    accessSync(path, constants.W_OK);
    problems.push(`${what} is writable`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EROFS") {
      problems.push(`${what}: ${(error as NodeJS.ErrnoException).code}`);
    }
  }
};
readOnly("/app", "the root file system");
readOnly("/model", "/model");

if (problems.length > 0) {
  for (const p of problems) console.error(`vllm-stand-in: error: ${p}`);
  process.exit(2);
}
console.log(
  `vllm-stand-in: launched with --model /model --served-model-name ${served} --tensor-parallel-size ${tensorParallel} --port ${port} --max-logprobs ${maxLogprobs}; caches ${Object.entries(
    caches,
  )
    .map(([k, v]) => `${k}=${v}`)
    .join(" ")} writable`,
);
const server = await startSimLlm({ port, host: "0.0.0.0", model: served as string });
process.on("SIGTERM", () => void server.close().then(() => process.exit(0)));
