import type { KeyringPair } from "@polkadot/keyring/types";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import type { ChainClient } from "../chain/chain-client.ts";
import type { WeightTarget } from "./weight-setter.ts";

/** Options of {@link chainWeightTarget}. */
export interface ChainWeightTargetOptions {
  client: ChainClient;
  netuid: number;
  /** The validator's hotkey. */
  signer: KeyringPair;
  /** @default 0n (the chain's WeightsVersionKey wins when higher) */
  versionKey?: bigint;
}

/** The weight setter's view of Subtensor through the chain client (set_weights or commit-reveal, read back). */
export function chainWeightTarget(options: ChainWeightTargetOptions): WeightTarget {
  const { client, netuid, signer } = options;
  return {
    finalizedBlock: async () => (await client.finalizedHead()).number,
    async readOwnWeights() {
      const head = await client.finalizedHead();
      const metagraph = await client.readMetagraph(netuid, head);
      const me = metagraph.neurons.find((n) => n.hotkey === signer.address);
      if (!me) {
        throw new CacheonError(
          "permission-denied",
          `validator hotkey ${signer.address} is not registered on subnet ${netuid}; register it before setting weights`,
        );
      }
      const query = (await client.api.at(head.hash)).query.subtensorModule?.weights;
      if (!query) throw new CacheonError("internal", "the chain's metadata has no SubtensorModule.Weights");
      const pairs = ((await query(netuid, me.uid)).toJSON() as [number, number][] | null) ?? [];
      return { lastUpdate: me.lastUpdate, uids: pairs.map(([u]) => u), weights: pairs.map(([, w]) => w) };
    },
    async setWeights(uids, weights, signal) {
      const result = await client.setWeights(netuid, new Map(uids.map((u, i) => [u, weights[i] ?? 0])), {
        signer,
        versionKey: options.versionKey ?? 0n,
        signal,
      });
      return { block: result.blockNumber, ref: `${result.mode}@${result.blockHash}` };
    },
  };
}
