import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { type CommandIo, ExitCode } from "../../shared/cli/cli-command.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { createLogger } from "../../shared/log/logger.ts";
import { defaultSeed, parseSeed } from "../chain/devnet-seed.ts";
import { startDevnet } from "../devnet.ts";

export const devnetHelp = `cacheon-devnet: a local Bittensor Subtensor chain for development and tests. It serves finney's
real runtime metadata (spec 424), so @polkadot/api code that works against it encodes exactly as
on finney. It applies Commitments.set_commitment, SubtensorModule.set_weights / commit_weights /
reveal_weights / burned_register, Balances transfers, System remarks and Utility.batch_all with the
chain's checks, charges fees, and checks sr25519 signatures and nonces (see docs/chain.md).
Besides Substrate's JSON-RPC it answers devnet_replaceNeuron [netuid, uid, hotkey] (deregister a
uid's hotkey for another), devnet_endow [account, rao] and devnet_injectFault [{kind, call?, ...}]
(make extrinsics hang, be dropped, invalid or usurped) for tests.

Usage: cacheon-devnet [options]

Options:
  --host HOST          interface to listen on (default 127.0.0.1)
  --port PORT          port (default 9944; 0 picks a free one)
  --block-time SECONDS seconds between blocks, fractions allowed (default 12)
  --seed FILE          subnets, neurons and hyperparameters (YAML or JSON; see docs/chain.md).
                       Default: netuid 1 with //Alice (uid 0, validator permit), //Bob, //Charlie,
                       //Dave, //Eve, //Ferdie; commit-reveal off; WeightsSetRateLimit 100
  --beacon-seed TEXT   seed of the drand-style beacon's BLS key (default "cacheon devnet beacon");
                       its public key is printed at start: give it to the controller (chain.drand)
  --beacon-period SECONDS  seconds between beacon rounds, fractions allowed (default 3)
  --json               log JSON lines and print the listening URL and beacon as JSON
  -h, --help           this help

Runs until SIGINT/SIGTERM. Exit codes: 0 stopped cleanly, 2 usage or configuration error.
`;

/** Runs cacheon-devnet with `argv`; resolves with the exit code once stopped. */
export async function runDevnet(argv: string[], io: CommandIo): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        host: { type: "string" },
        port: { type: "string" },
        "block-time": { type: "string" },
        seed: { type: "string" },
        "beacon-seed": { type: "string" },
        "beacon-period": { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }).values;
  } catch (error) {
    io.stderr.write(`cacheon-devnet: ${(error as Error).message}\nRun \`cacheon-devnet --help\`.\n`);
    return ExitCode.usage;
  }
  if (values.help) {
    io.stdout.write(devnetHelp);
    return ExitCode.ok;
  }
  const problems: string[] = [];
  const port = values.port === undefined ? 9944 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    problems.push(`--port "${values.port}" must be 0-65535`);
  const blockTime = values["block-time"] === undefined ? 12 : Number(values["block-time"]);
  if (!Number.isFinite(blockTime) || blockTime <= 0 || blockTime > 3600)
    problems.push(`--block-time "${values["block-time"]}" must be a number of seconds > 0 and <= 3600`);
  const beaconPeriod = values["beacon-period"] === undefined ? 3 : Number(values["beacon-period"]);
  if (!Number.isFinite(beaconPeriod) || beaconPeriod <= 0 || beaconPeriod > 3600)
    problems.push(`--beacon-period "${values["beacon-period"]}" must be a number of seconds > 0 and <= 3600`);
  if (problems.length > 0) {
    io.stderr.write(`cacheon-devnet: ${problems.join("; ")}\n`);
    return ExitCode.usage;
  }
  const logger = createLogger({
    stream: io.stderr as import("node:stream").Writable & { isTTY?: boolean },
    format: values.json ? "json" : undefined,
  });
  try {
    let seed = defaultSeed();
    if (typeof values.seed === "string") {
      const text = await readFile(values.seed, "utf8").catch((error: Error) => {
        throw new CacheonError(
          "invalid-config",
          `cannot read the seed file ${values.seed}: ${error.message}`,
        );
      });
      seed = parseSeed(text, values.seed);
    }
    const devnet = await startDevnet({
      host: typeof values.host === "string" ? values.host : "127.0.0.1",
      port,
      blockTimeSeconds: blockTime,
      seed,
      beacon: {
        periodSeconds: beaconPeriod,
        ...(typeof values["beacon-seed"] === "string" ? { seed: values["beacon-seed"] } : {}),
      },
      logger,
    });
    const beacon = {
      publicKey: devnet.chain.beacon.publicKeyHex,
      genesisSeconds: devnet.chain.beacon.info.genesisSeconds,
      periodSeconds: devnet.chain.beacon.info.periodSeconds,
    };
    io.stdout.write(
      values.json
        ? `${JSON.stringify({ url: devnet.url, genesisHash: devnet.chain.genesisHash, blockTimeSeconds: blockTime, beacon })}\n`
        : `cacheon-devnet listening on ${devnet.url} (genesis ${devnet.chain.genesisHash}, a block every ${blockTime} s)\n` +
            `  drand-style beacon: public key ${beacon.publicKey}, genesis ${beacon.genesisSeconds}, a round every ${beacon.periodSeconds} s\n`,
    );
    await new Promise<void>((resolve) => {
      if (io.signal.aborted) resolve();
      io.signal.addEventListener("abort", () => resolve(), { once: true });
    });
    await devnet.close();
    return ExitCode.ok;
  } catch (error) {
    const err = CacheonError.from(error);
    io.stderr.write(`cacheon-devnet: ${err.message}\n`);
    return err.code === "internal" ? ExitCode.negative : ExitCode.usage;
  }
}

/** Runs cacheon-devnet with the process's arguments until SIGINT/SIGTERM. */
export async function main(): Promise<void> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  process.exitCode = await runDevnet(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    signal: controller.signal,
  });
}

if (import.meta.main) await main();
