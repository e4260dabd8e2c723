import { hexToU8a, u8aToHex } from "@polkadot/util";
import type { ChainStorage } from "../chain/chain-storage.ts";
import { storageEntry } from "../runtime/chain-metadata.ts";
import { bool, num } from "./codec-values.ts";
import type { DevnetPallet, RuntimeEvent } from "./pallet.ts";

// subtensor's stateful epoch schedule (spec 424; run_coinbase.rs should_run_epoch /
// get_next_epoch_start_block, weights.rs current_epoch_with_lookahead): an epoch fires in the
// first block at least `tempo` blocks after LastEpochBlock (or at an owner-set PendingEpochAt),
// which sets LastEpochBlock to that block and increments SubnetEpochIndex. Commit-reveal keys
// commits by the epoch index, counting an epoch that fires in the current block (look-ahead:
// block_step runs in on_initialize, before the increment). The devnet has no per-block cap on
// epochs, so none is ever deferred.

/** Whether the subnet's epoch fires in `block`. */
export function shouldRunEpoch(storage: ChainStorage, netuid: number, block: number): boolean {
  const tempo = num(storage.read("subtensorModule", "tempo", netuid));
  if (tempo === 0) return false;
  const pending = num(storage.read("subtensorModule", "pendingEpochAt", netuid));
  if (pending > 0 && block >= pending) return true;
  return block - num(storage.read("subtensorModule", "lastEpochBlock", netuid)) >= tempo;
}

/** get_epoch_index: the SubnetEpochIndex counter (what the Commitments pallet meters space by). */
export function epochIndex(storage: ChainStorage, netuid: number): number {
  return num(storage.read("subtensorModule", "subnetEpochIndex", netuid));
}

/** The epoch a commit or reveal made in `block` belongs to. */
export function currentEpochWithLookahead(storage: ChainStorage, netuid: number, block: number): number {
  return epochIndex(storage, netuid) + (shouldRunEpoch(storage, netuid, block) ? 1 : 0);
}

/** get_next_epoch_start_block: LastEpochBlock + tempo, or PendingEpochAt when sooner; undefined when tempo is 0. */
export function nextEpochStartBlock(storage: ChainStorage, netuid: number): number | undefined {
  const tempo = num(storage.read("subtensorModule", "tempo", netuid));
  if (tempo === 0) return undefined;
  const auto = num(storage.read("subtensorModule", "lastEpochBlock", netuid)) + tempo;
  const pending = num(storage.read("subtensorModule", "pendingEpochAt", netuid));
  return pending > 0 ? Math.min(auto, pending) : auto;
}

/** The subnets that exist (NetworksAdded keys, Identity-hashed u16 netuids), in netuid order. */
export function subnetNetuids(storage: ChainStorage): number[] {
  const prefix = u8aToHex(storageEntry(storage.meta, "subtensorModule", "networksAdded").keyPrefix());
  return storage
    .keysPaged(prefix, 65_536)
    .map((key) => {
      const netuid = hexToU8a(`0x${key.slice(prefix.length)}`);
      return (netuid[0] ?? 0) | ((netuid[1] ?? 0) << 8);
    })
    .filter((netuid) => bool(storage.read("subtensorModule", "networksAdded", netuid)))
    .sort((a, b) => a - b);
}

/**
 * The epoch step of run_coinbase: for every subnet whose epoch fires this block, LastEpochBlock
 * becomes the block and SubnetEpochIndex grows by one. Listed after the pallets whose
 * on_initialize must see the look-ahead epoch (timelocked weight reveals).
 */
export const subtensorEpochPallet: DevnetPallet = {
  section: "subtensorModule",
  calls: {},
  onInitialize({ storage, block }): RuntimeEvent[] {
    for (const netuid of subnetNetuids(storage)) {
      if (!shouldRunEpoch(storage, netuid, block)) continue;
      storage.write("subtensorModule", "lastEpochBlock", [netuid], block);
      storage.write("subtensorModule", "pendingEpochAt", [netuid], 0);
      storage.write("subtensorModule", "subnetEpochIndex", [netuid], epochIndex(storage, netuid) + 1);
    }
    return [];
  },
};
