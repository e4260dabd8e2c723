import { createHash } from "node:crypto";
import { parseHexSeed } from "../../shared/stats/seeded-random.ts";

/**
 * A round's seed: sha256(finalized block hash bytes || validator secret), hex without 0x. The block
 * hash makes it unpredictable before the block is final; the secret (optional) keeps other
 * validators' and miners' replays from knowing the prompts in advance.
 */
export function roundSeed(blockHash: string, validatorSecret = ""): string {
  const hash = createHash("sha256").update(parseHexSeed(blockHash));
  if (validatorSecret) hash.update(validatorSecret, "utf8");
  return hash.digest("hex");
}

/** A seed derived from a round's seed for one purpose (a reproduction job), different from it and from other purposes. */
export function derivedSeed(seed: string, purpose: string): string {
  return createHash("sha256").update(parseHexSeed(seed)).update("\0").update(purpose, "utf8").digest("hex");
}
