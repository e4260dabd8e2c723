import type { KeyringPair } from "@polkadot/keyring/types";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { formatFeeRemark } from "../fees/fee-remark.ts";
import type { ChainClient, FinalizedBlock } from "./chain-client.ts";
import type { TimelockCommitOptions } from "./seal-commitment.ts";

// A commitment with its submission fee, the way validators check it (controller/fees): a transfer
// to the fee account and a remark naming the hotkey and the image digest. Where the chain has
// utility.batch_all (finney does), the three go in one extrinsic: all land or none, and nothing
// about the digest is public before the commitment is. Without it, the transfer and the remark go
// first as the hotkey's next two transactions, and the commitment only once both are final and
// succeeded; the remark then names the digest sealed (blake2 of hotkey and digest), so a copier
// cannot read it before the commitment lands.

/** The fee to pay with a commitment. */
export interface CommitFee {
  /** The fee account (SS58). */
  destination: string;
  /** Rao. */
  amount: bigint;
}

/** Options of {@link commitWithFee}. */
export interface PaidCommitOptions {
  netuid: number;
  /** The commitment's text (a pinned reference, or its JSON form). */
  text: string;
  /** The image digest the remark names ("sha256:<hex>"). */
  digest: string;
  /** The hotkey: it commits and pays. */
  signer: KeyringPair;
  fee: CommitFee;
  /** Seal the commitment to a drand round (set_reveal_commitment); the remark is then sealed too. */
  timelock?: TimelockCommitOptions | undefined;
  signal?: AbortSignal | undefined;
}

/** What was done: how, where the payment landed, and where the commitment did. */
export interface PaidCommit {
  mode: "batch_all" | "sequence";
  remark: string;
  paymentBlock: FinalizedBlock;
  commitBlock: FinalizedBlock & { revealRound?: number };
}

/** Pays the fee and commits; throws ChainDispatchError (e.g. Token.FundsUnavailable) when the chain refuses. */
export async function commitWithFee(client: ChainClient, options: PaidCommitOptions): Promise<PaidCommit> {
  const { api } = client;
  const { netuid, signer, fee, signal } = options;
  const transfer = api.tx.balances?.transferKeepAlive;
  const remarkCall = api.tx.system?.remark;
  if (!transfer || !remarkCall)
    throw new CacheonError(
      "internal",
      "the chain's metadata lacks Balances.transfer_keep_alive or System.remark",
    );
  const { extrinsic: commitment, revealRound } = await client.commitmentCall(
    netuid,
    options.text,
    options.timelock,
  );
  const batchAll = api.tx.utility?.batchAll;
  if (batchAll) {
    const remark = formatFeeRemark(netuid, signer.address, options.digest, options.timelock !== undefined);
    const block = await client.submit(
      batchAll([transfer(fee.destination, fee.amount), remarkCall(remark), commitment]),
      signer,
      signal,
    );
    const commitBlock = revealRound === undefined ? block : { ...block, revealRound };
    return { mode: "batch_all", remark, paymentBlock: block, commitBlock };
  }
  const remark = formatFeeRemark(netuid, signer.address, options.digest, true);
  const nonce = Number((await api.rpc.system.accountNextIndex(signer.address)).toString());
  const [paid] = await Promise.all([
    client.submit(transfer(fee.destination, fee.amount), signer, signal, { nonce }),
    client.submit(remarkCall(remark), signer, signal, { nonce: nonce + 1 }),
  ]);
  const block = await client.submit(commitment, signer, signal, { nonce: nonce + 2 });
  return {
    mode: "sequence",
    remark,
    paymentBlock: paid,
    commitBlock: revealRound === undefined ? block : { ...block, revealRound },
  };
}
