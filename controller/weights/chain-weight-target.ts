import type { KeyringPair } from "@polkadot/keyring/types";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import type { Logger } from "../../shared/log/logger.ts";
import type { BeaconInfo } from "../../shared/timelock/beacon-info.ts";
import type { ChainClient } from "../chain/chain-client.ts";
import type { SubmitOptions } from "../chain/extrinsic-submitter.ts";
import type { WeightCommitMode, WeightCommitTable } from "../store/weight-commit-table.ts";
import type { WeightTarget } from "./weight-setter.ts";

/** Options of {@link chainWeightTarget}. */
export interface ChainWeightTargetOptions {
  client: ChainClient;
  netuid: number;
  /** The validator's hotkey. */
  signer: KeyringPair;
  /** @default 0n (the chain's WeightsVersionKey wins when higher) */
  versionKey?: bigint;
  /** Where commit-reveal state is kept across restarts (store.weightCommits); required under commit-reveal. */
  commits?: WeightCommitTable;
  /** Commit-reveal in use when the subnet has it on. @default "timelock" */
  commitReveal?: WeightCommitMode;
  /** The drand beacon the chain follows. @default quicknet */
  beacon?: BeaconInfo;
  /** Seconds per block. @default 12 */
  blockSeconds?: number;
  /** How set_weights extrinsics are submitted: deadline and mortal era (extrinsic-submitter.ts defaults). */
  submit?: Pick<SubmitOptions, "deadlineMs" | "mortalBlocks">;
  logger?: Logger;
}

/** The weight setter's view of Subtensor through the chain client (set_weights or commit-reveal, read back). */
export function chainWeightTarget(options: ChainWeightTargetOptions): WeightTarget {
  const { client, netuid, signer } = options;
  return {
    finalizedBlock: async () => (await client.finalizedHead()).number,
    async readNeurons() {
      const metagraph = await client.readMetagraph(netuid);
      return {
        block: metagraph.blockNumber,
        neurons: metagraph.neurons.map((n) => ({
          uid: n.uid,
          hotkey: n.hotkey,
          registeredAt: n.registeredAt,
        })),
      };
    },
    extrinsicFate: (sent) => client.extrinsicFate(sent),
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
    pendingCommit: (intentId) => options.commits?.open(intentId) !== undefined,
    async setWeights(uids, weights, signal, intentId, onSigned) {
      const result = await client.setWeights(netuid, new Map(uids.map((u, i) => [u, weights[i] ?? 0])), {
        signer,
        versionKey: options.versionKey ?? 0n,
        ...(options.commits ? { commits: options.commits } : {}),
        ...(options.commitReveal ? { commitReveal: options.commitReveal } : {}),
        ...(options.beacon ? { beacon: options.beacon } : {}),
        ...(options.blockSeconds ? { blockSeconds: options.blockSeconds } : {}),
        ...(options.logger ? { logger: options.logger } : {}),
        ...(intentId !== undefined ? { intentId } : {}),
        // One weights extrinsic at a time, so the nonce comes from the chain's state (see SubmitOptions.nonce).
        submit: { ...options.submit, nonce: "chain", onSigned },
        signal,
      });
      return { block: result.blockNumber, ref: `${result.mode}@${result.blockHash}` };
    },
  };
}
