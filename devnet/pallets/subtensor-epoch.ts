import type { ChainStorage } from "../chain/chain-storage.ts";
import { num } from "./codec-values.ts";

/** subtensor's epoch index: `(block + netuid + 1) / (tempo + 1)`. */
export function epochIndex(storage: ChainStorage, netuid: number, block: number): number {
  const tempo = num(storage.read("subtensorModule", "tempo", netuid));
  return Math.floor((block + netuid + 1) / (tempo + 1));
}
