import { decodeAddress } from "@polkadot/util-crypto";
import type { commitWithFee } from "../../controller/chain/paid-commit.ts";
import { loadHotkey } from "../../controller/chain/wallet.ts";
import { type CliCommand, ExitCode } from "../../shared/cli/cli-command.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { parseImageReference, pullReference } from "../../shared/image/image-reference.ts";
import { silentLogger } from "../../shared/log/logger.ts";

const networks: Record<string, string> = {
  finney: "wss://entrypoint-finney.opentensor.ai:443",
  test: "wss://test.finney.opentensor.ai:443",
  local: "ws://127.0.0.1:9944",
};

/** `cacheon-miner commit`: validates the reference, writes the commitment, waits for finality. */
export const commitCommand: CliCommand = {
  name: "commit",
  summary: "write REF@sha256:DIGEST as your hotkey's commitment and wait for finality",
  help: `Usage: cacheon-miner commit --image REF@sha256:DIGEST --wallet NAME --hotkey NAME [options]

Writes your image reference, pinned by digest, as your hotkey's commitment on the subnet
(Commitments.set_commitment, one Raw field holding registry/repository@sha256:...), then waits
until the block holding it is finalized and prints that block.

Options:
  --image REF          the image, pinned: [registry/]repo[:tag]@sha256:<64 hex> (tags alone are refused)
  --wallet NAME        wallet name (~/.bittensor/wallets/NAME)
  --hotkey NAME        hotkey name (~/.bittensor/wallets/NAME/hotkeys/HOTKEY); must be registered on the subnet
  --netuid N           subnet (default 14; the local devnet's subnet is 1)
  --network URL|NAME   finney, test, local, or a ws(s):// URL (default finney; env CACHEON_CHAIN_ENDPOINT)
  --wallet-path DIR    folder of wallets (default ~/.bittensor/wallets)
  --reveal-in BLOCKS   commit drand-timelocked instead (like the SDK's set_reveal_commitment): the
                       reference stays sealed until the chain reveals it about BLOCKS blocks from now,
                       so nobody can copy it before then; validators evaluate it after the reveal
  --block-time SECONDS seconds per block, to turn --reveal-in into a drand round (default 12)
  --fee                pay the subnet's submission fee with the commitment: a transfer of --fee-amount
                       to --fee-to and a remark naming your hotkey and the digest, in one
                       utility.batch_all extrinsic with the commitment (all or nothing); validators
                       do not evaluate a commitment without it. The hotkey pays (fund it first)
  --fee-to SS58        the fee account the subnet publishes (env CACHEON_FEE_DESTINATION)
  --fee-amount TAO     the fee (default 0.1)
  --timeout SECONDS    give up waiting for finality after this long (default 120)
  --json               print the result as JSON

Exit codes: 0 committed (and paid) and finalized; 1 the chain refused it (e.g. Token.FundsUnavailable:
the hotkey cannot pay the fee; nothing was committed); 2 usage, wallet or connection error.
Example: cacheon-miner commit --image ghcr.io/me/fast@sha256:<digest> --wallet miner --hotkey default --network local --netuid 1
`,
  options: {
    image: { type: "string" },
    wallet: { type: "string" },
    hotkey: { type: "string" },
    netuid: { type: "string" },
    network: { type: "string" },
    "wallet-path": { type: "string" },
    timeout: { type: "string" },
    "reveal-in": { type: "string" },
    "block-time": { type: "string" },
    fee: { type: "boolean" },
    "fee-to": { type: "string" },
    "fee-amount": { type: "string" },
  },
  async run(values, _positionals, io) {
    const missing = ["image", "wallet", "hotkey"].filter((k) => typeof values[k] !== "string");
    if (missing.length > 0) {
      io.stderr.write(
        `cacheon-miner commit: missing ${missing.map((m) => `--${m}`).join(", ")}. Run with --help.\n`,
      );
      return ExitCode.usage;
    }
    const image = parseImageReference(String(values.image));
    const netuid = Number(values.netuid ?? 14);
    if (!Number.isInteger(netuid) || netuid < 1 || netuid > 65535)
      throw new CacheonError("invalid-argument", `--netuid "${values.netuid}" must be an integer 1-65535`);
    const timeout = Number(values.timeout ?? 120);
    if (!Number.isFinite(timeout) || timeout <= 0)
      throw new CacheonError(
        "invalid-argument",
        `--timeout "${values.timeout}" must be a number of seconds > 0`,
      );
    const revealIn = values["reveal-in"] === undefined ? undefined : Number(values["reveal-in"]);
    if (revealIn !== undefined && (!Number.isInteger(revealIn) || revealIn < 1 || revealIn > 1_000_000))
      throw new CacheonError(
        "invalid-argument",
        `--reveal-in "${values["reveal-in"]}" must be a whole number of blocks, 1-1000000`,
      );
    const blockSeconds = Number(values["block-time"] ?? 12);
    if (!Number.isFinite(blockSeconds) || blockSeconds <= 0)
      throw new CacheonError(
        "invalid-argument",
        `--block-time "${values["block-time"]}" must be a number of seconds > 0`,
      );
    const fee = values.fee === true ? feeOptions(values, io.env) : undefined;
    const network = String(values.network ?? io.env.CACHEON_CHAIN_ENDPOINT ?? "finney");
    const endpoint = networks[network] ?? network;
    const signer = await loadHotkey({
      wallet: String(values.wallet),
      hotkey: String(values.hotkey),
      walletPath: typeof values["wallet-path"] === "string" ? values["wallet-path"] : undefined,
    });
    // Loaded here, not at the top, so --help and usage errors do not pay for @polkadot/api.
    const { ChainClient } = await import("../../controller/chain/chain-client.ts");
    const { ChainDispatchError } = await import("../../controller/chain/chain-errors.ts");
    const client = await ChainClient.connect({ endpoints: [endpoint], rounds: 1, logger: silentLogger });
    const deadline = AbortSignal.any([io.signal, AbortSignal.timeout(timeout * 1000)]);
    try {
      const metagraph = await client.readMetagraph(netuid);
      const uid = metagraph.neurons.find((n) => n.hotkey === signer.address)?.uid;
      if (uid === undefined)
        throw new CacheonError(
          "permission-denied",
          `hotkey ${signer.address} is not registered on subnet ${netuid} at ${endpoint}: register it (btcli subnet register) before committing`,
        );
      const reference = pullReference(image);
      if (!io.stdout.isTTY || values.json) {
        // nothing: progress goes to stderr only on terminals
      } else io.stderr.write(`committing ${reference} as uid ${uid} on subnet ${netuid}...\n`);
      // Sealed, the text names its hotkey: a ciphertext replayed by another hotkey reveals a
      // commitment that is not theirs, and validators refuse it.
      const text =
        revealIn === undefined
          ? reference
          : JSON.stringify({
              image: imageWithoutDigest(reference),
              digest: image.digest,
              hotkey: signer.address,
            });
      const timelock = revealIn === undefined ? undefined : { revealInBlocks: revealIn, blockSeconds };
      let paid: Awaited<ReturnType<typeof commitWithFee>> | undefined;
      if (fee) {
        const { commitWithFee } = await import("../../controller/chain/paid-commit.ts");
        paid = await commitWithFee(client, {
          netuid,
          text,
          digest: image.digest,
          signer,
          fee,
          timelock,
          signal: deadline,
        });
      }
      const block = paid ? paid.commitBlock : await client.commit(netuid, text, signer, deadline, timelock);
      const result = {
        reference,
        ...(block.revealRound !== undefined ? { timelocked: true, revealRound: block.revealRound } : {}),
        hotkey: signer.address,
        uid,
        netuid,
        endpoint,
        blockNumber: block.number,
        blockHash: block.hash,
        ...(paid && fee
          ? {
              fee: {
                amountRao: fee.amount.toString(),
                destination: fee.destination,
                mode: paid.mode,
                remark: paid.remark,
                blockNumber: paid.paymentBlock.number,
              },
            }
          : {}),
      };
      io.stdout.write(
        values.json
          ? `${JSON.stringify(result)}\n`
          : `committed ${reference}${block.revealRound !== undefined ? ` sealed to drand round ${block.revealRound} (revealed by the chain in about ${revealIn} blocks)` : ""}\n  hotkey ${signer.address} (uid ${uid}, subnet ${netuid})\n  finalized in block ${block.number} ${block.hash}\n${paid && fee ? `  fee ${Number(fee.amount) / 1e9} TAO paid to ${fee.destination} in block ${paid.paymentBlock.number} (${paid.mode})\n` : ""}`,
      );
      return ExitCode.ok;
    } catch (error) {
      if (error instanceof ChainDispatchError) {
        io.stderr.write(`cacheon-miner commit: ${error.message}\n`);
        return ExitCode.negative;
      }
      if (deadline.aborted && !io.signal.aborted)
        throw new CacheonError(
          "deadline-exceeded",
          `the commitment was not finalized within ${timeout} s; check the chain and retry`,
        );
      throw error;
    } finally {
      await client.close();
    }
  },
};

/** `registry/repo[:tag]` of a pinned reference (the JSON form keeps the digest apart). */
function imageWithoutDigest(reference: string): string {
  return reference.slice(0, reference.lastIndexOf("@"));
}

/** The fee to pay from --fee-to / CACHEON_FEE_DESTINATION and --fee-amount (TAO). */
function feeOptions(
  values: Record<string, unknown>,
  env: Record<string, string | undefined>,
): { destination: string; amount: bigint } {
  const destination = typeof values["fee-to"] === "string" ? values["fee-to"] : env.CACHEON_FEE_DESTINATION;
  if (!destination)
    throw new CacheonError(
      "invalid-argument",
      "--fee needs the fee account: give --fee-to SS58 (or CACHEON_FEE_DESTINATION), as the subnet publishes it",
    );
  try {
    decodeAddress(destination);
  } catch {
    throw new CacheonError("invalid-argument", `--fee-to "${destination}" is not an SS58 address`);
  }
  const text = typeof values["fee-amount"] === "string" ? values["fee-amount"] : "0.1";
  if (!/^\d+(\.\d{1,9})?$/.test(text) || Number(text) <= 0)
    throw new CacheonError(
      "invalid-argument",
      `--fee-amount "${text}" must be TAO > 0 with at most 9 decimals`,
    );
  const [whole, frac = ""] = text.split(".");
  return { destination, amount: BigInt(whole ?? "0") * 1_000_000_000n + BigInt(frac.padEnd(9, "0")) };
}
