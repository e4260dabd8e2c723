import type { SimLlmMode } from "../sim-llm-mode.ts";

/** One sim image: its behaviour, and how it relates to another image (for copy-detection tests). */
export interface SimImageSpec {
  /** Name in the manifest and the tag in the registry. */
  name: string;
  /** What the image is for. */
  description: string;
  mode: SimLlmMode;
  speed: number;
  /** Extra environment (e.g. CACHEON_SIM_CRASH_AFTER). */
  env?: Record<string, string>;
  /** Build on top of this image instead of the base (its layers are shared). */
  from?: string;
  /** A label that only this image has (an image differing from another only in metadata). */
  label?: Record<string, string>;
  /** A small extra file, as its own layer. */
  extraFile?: { path: string; content: string };
}

/** Every image the build produces. */
export const simImageCatalog: readonly SimImageSpec[] = [
  { name: "baseline", description: "honest, speed 1.00 (the pinned baseline)", mode: "honest", speed: 1 },
  { name: "fast", description: "honest, 5% faster than the baseline", mode: "honest", speed: 1.05 },
  { name: "faster", description: "honest, 10% faster than the baseline", mode: "honest", speed: 1.1 },
  { name: "slow", description: "honest, 5% slower than the baseline", mode: "honest", speed: 0.95 },
  { name: "wrong-model", description: "fast, but serves another model", mode: "wrong-model", speed: 1.1 },
  {
    name: "perturbed-logprobs",
    description: "fast, honest tokens, fake logprobs",
    mode: "perturbed-logprobs",
    speed: 1.1,
  },
  {
    name: "crashing",
    description: "crashes (the process exits) after 3 requests",
    mode: "crash-after",
    speed: 1.05,
    env: { CACHEON_SIM_CRASH_AFTER: "3" },
  },
  { name: "never-ready", description: "binds port 8000, /health never 200", mode: "never-ready", speed: 1 },
  {
    name: "stream-buffering",
    description: "buffers the stream, flushes it at the end",
    mode: "stream-buffering",
    speed: 1.05,
  },
  {
    name: "cache-cheating",
    description: "answers repeated prompts from a response cache",
    mode: "response-cache",
    speed: 1,
  },
  {
    name: "benchmark-detect",
    description: "fast and wrong on benchmark-like prompts, honest otherwise",
    mode: "benchmark-detect",
    speed: 1,
  },
  {
    name: "token-inflation",
    description: "streams tokens past max_tokens",
    mode: "token-inflation",
    speed: 1.05,
  },
  { name: "false-usage", description: "reports false usage counts", mode: "false-usage", speed: 1.05 },
  // The subtle cheats (issue 14), each 15% faster than the baseline where it is honest: were it not
  // refused, it would beat the fastest honest image.
  {
    name: "truncate",
    description: "stops just above the 90% length rule",
    mode: "truncate",
    speed: 1.15,
  },
  {
    name: "near-tie-junk-ids",
    description: "runner-up at a near-tie, then junk with unknown token ids at once",
    mode: "near-tie-junk-ids",
    speed: 1.15,
  },
  {
    name: "near-tie-junk-text",
    description: "runner-up at a near-tie, then junk ids with other text at once",
    mode: "near-tie-junk-text",
    speed: 1.15,
  },
  {
    name: "near-tie-junk",
    description: "runner-up at a near-tie, then junk tokens at once",
    mode: "near-tie-junk",
    speed: 1.15,
  },
  {
    name: "partial-replay",
    description: "replays repeated requests 15% faster",
    mode: "partial-replay",
    speed: 1,
  },
  {
    name: "precomputed-table",
    description: "answers half of the bundled pool at once from a table",
    mode: "precomputed-table",
    speed: 1,
  },
  {
    name: "canary-honest",
    description: "honest on prompts it takes for canaries, fast and wrong on the rest",
    mode: "canary-honest",
    speed: 1,
  },
  {
    name: "fast-retagged",
    description: "the fast image's content, differing only in a label",
    mode: "honest",
    speed: 1.05,
    label: { "org.example.rebranded": "yes" },
  },
  {
    name: "fast-plus-layer",
    description: "the fast image plus one small extra layer",
    mode: "honest",
    speed: 1.05,
    from: "fast",
    extraFile: { path: "/etc/cacheon-sim/extra.txt", content: "an extra layer that changes nothing\n" },
  },
];

/** The environment an image's container gets. */
export function imageEnv(spec: SimImageSpec): Record<string, string> {
  return {
    CACHEON_SIM_HOST: "0.0.0.0",
    CACHEON_SIM_PORT: "8000",
    CACHEON_SIM_MODE: spec.mode,
    CACHEON_SIM_SPEED: String(spec.speed),
    ...spec.env,
  };
}

/**
 * The behaviour file baked into an image: what makes each behaviour's top layer its own. Only the
 * behaviour is in it, so images that behave alike (fast, fast-retagged) get identical layers.
 */
export function behaviourFile(spec: SimImageSpec): string {
  return `${JSON.stringify({ mode: spec.mode, speed: spec.speed, env: spec.env ?? {} }, null, 2)}\n`;
}
