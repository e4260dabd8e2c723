import { existsSync, readFileSync } from "node:fs";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";

/** One pushed sim image. */
export interface SimImageEntry {
  /** Pull reference by digest: `127.0.0.1:5000/cacheon/sim-llm@sha256:...`. */
  reference: string;
  /** The tag it was pushed under: `127.0.0.1:5000/cacheon/sim-llm:<name>`. */
  tag: string;
  /** `sha256:...` of the manifest in the registry. */
  digest: string;
  description: string;
  /** The environment baked into the image (mode, speed, port 8000). */
  env: Record<string, string>;
}

/** The file `scripts/build-sim-images` writes (default `.cacheon/sim-images.json`). */
export interface SimImageManifest {
  /** Hash of everything the images were built from. */
  inputsHash: string;
  registry: string;
  /** `registry/cacheon/sim-llm`. */
  repository: string;
  builtAt: string;
  /** By name: baseline, fast, faster, slow, wrong-model, ..., fast-retagged, fast-plus-layer. */
  images: Record<string, SimImageEntry>;
}

/** Reads a sim image manifest; with `optional`, a missing file gives undefined. */
export function readSimImageManifest(path: string, options: { optional: true }): SimImageManifest | undefined;
export function readSimImageManifest(path: string, options?: { optional?: false }): SimImageManifest;
export function readSimImageManifest(
  path: string,
  options: { optional?: boolean } = {},
): SimImageManifest | undefined {
  if (!existsSync(path)) {
    if (options.optional) return undefined;
    throw new CacheonError(
      "not-found",
      `no sim image manifest at ${path}; run scripts/build-sim-images first`,
    );
  }
  let parsed: SimImageManifest;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8")) as SimImageManifest;
  } catch (error) {
    throw new CacheonError(
      "invalid-config",
      `${path} is not valid JSON (${(error as Error).message}); rebuild it with scripts/build-sim-images --force`,
    );
  }
  if (typeof parsed?.images !== "object" || typeof parsed.inputsHash !== "string") {
    throw new CacheonError(
      "invalid-config",
      `${path} is not a sim image manifest; rebuild it with scripts/build-sim-images --force`,
    );
  }
  return parsed;
}
