import type { AdminOperation } from "../chain/devnet-chain.ts";
import { mint } from "./balance-ledger.ts";
import { registered, replaceNeuron } from "./subtensor-registration.ts";

// What a devnet operator can do that no signed extrinsic does (a Substrate dev chain would use
// sudo): take a uid from its hotkey for another, and fund an account. Each runs at the start of
// the next block and deposits the events the runtime would (NeuronRegistered; NewAccount, Endowed).

/** `hotkey` takes `uid` on `netuid` as if it had registered and the uid had been pruned. */
export function replaceNeuronOperation(netuid: number, uid: number, hotkey: string): AdminOperation {
  return ({ storage, block }) => {
    const n = Number(storage.read("subtensorModule", "subnetworkN", netuid)?.toString() ?? 0);
    if (uid >= n) throw new Error(`uid ${uid} does not exist on subnet ${netuid} (${n} neurons)`);
    const id = storage.meta.registry.createType("AccountId32", hotkey).toHex();
    if (storage.read("subtensorModule", "uids", netuid, id) !== undefined)
      throw new Error(`${hotkey} is already registered on subnet ${netuid}`);
    replaceNeuron(storage, netuid, uid, id, block);
    return [registered(netuid, uid, id)];
  };
}

/** Mints `amount` rao into `account` (a faucet). */
export function endowOperation(account: string, amount: bigint): AdminOperation {
  return ({ storage }) =>
    mint(storage, storage.meta.registry.createType("AccountId32", account).toHex(), amount);
}
