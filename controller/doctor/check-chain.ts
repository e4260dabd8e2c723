import { connect } from "node:net";
import type { Codec } from "@polkadot/types/types";
import { u8aToHex } from "@polkadot/util";
import { type BeaconInfo, roundAt } from "../../shared/timelock/beacon-info.ts";
import { ChainClient, type Metagraph } from "../chain/chain-client.ts";
import { type DoctorCheck, fail, ok, skip, warn } from "./doctor-check.ts";

/** Options of {@link checkChain}. */
export interface CheckChainOptions {
  endpoints: string[];
  netuid: number;
  /** The validator's ss58 address, when the wallet check found one. */
  hotkey: string | undefined;
  drand: BeaconInfo;
  commitReveal: "timelock" | "hash";
  /** Per endpoint. @default 8000 */
  connectTimeoutMs?: number;
  /** @default Date.now */
  nowMs?: number;
}

/** Drand rounds the chain's pallet may lag the beacon before reveals are called late. */
export const drandLagWarningRounds = 20;

/**
 * Checks every chain endpoint (answers, which chain, runtime, finalized head; all the same chain),
 * then on the first that answers: the subnet exists, the hotkey is registered on it with a
 * validator permit, and, where the subnet runs commit-reveal, that the configured mode and drand
 * beacon match the chain's.
 */
export async function checkChain(options: CheckChainOptions): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const clients: ChainClient[] = [];
  const genesis = new Map<string, string>();
  try {
    for (const url of options.endpoints) {
      const title = `chain endpoint ${url}`;
      let client: ChainClient;
      try {
        client = await ChainClient.connect({
          endpoints: [url],
          rounds: 1,
          connectTimeoutMs: options.connectTimeoutMs ?? 8000,
          backoffMs: () => 0,
        });
      } catch (error) {
        checks.push(
          fail(
            "chain",
            title,
            (await whyUnreachable(url)) ?? (error as Error).message,
            "check the URL (ws:// or wss://), that the node runs, and that it is reachable from here",
          ),
        );
        continue;
      }
      clients.push(client);
      const api = client.api;
      const [chain, head] = await Promise.all([api.rpc.system.chain(), client.finalizedHead()]);
      const hash = api.genesisHash.toHex();
      genesis.set(url, hash);
      checks.push(
        ok(
          "chain",
          title,
          `${chain.toString()}, runtime ${api.runtimeVersion.specName.toString()} ${api.runtimeVersion.specVersion.toString()}, finalized block ${head.number}`,
          [`genesis ${hash}`],
        ),
      );
    }
    if (new Set(genesis.values()).size > 1)
      checks.push(
        fail(
          "chain",
          "chain endpoints agree",
          `the endpoints serve different chains: ${[...genesis].map(([u, g]) => `${u} ${g.slice(0, 12)}…`).join(", ")}`,
          "list endpoints of one chain only in chain.endpoints",
        ),
      );
    const client = clients[0];
    if (!client) {
      checks.push(skip("subnet", `subnet ${options.netuid}`, "no chain endpoint answered"));
      checks.push(skip("permit", "validator permit", "no chain endpoint answered"));
      checks.push(skip("commit-reveal", "commit-reveal", "no chain endpoint answered"));
      return checks;
    }
    let metagraph: Metagraph;
    try {
      metagraph = await client.readMetagraph(options.netuid);
    } catch (error) {
      checks.push(fail("subnet", `subnet ${options.netuid}`, (error as Error).message, "check chain.netuid"));
      checks.push(skip("permit", "validator permit", "the subnet was not found"));
      checks.push(skip("commit-reveal", "commit-reveal", "the subnet was not found"));
      return checks;
    }
    checks.push(
      ok(
        "subnet",
        `subnet ${options.netuid}`,
        `${metagraph.neurons.length} neurons, tempo ${metagraph.tempo}, weights rate limit ${metagraph.weightsSetRateLimit} blocks`,
      ),
    );
    checks.push(permitCheck(metagraph, options.hotkey));
    checks.push(await commitRevealCheck(client, metagraph, options));
    return checks;
  } finally {
    for (const c of clients) await c.close().catch(() => {});
  }
}

/** A plain TCP connect says more than the WebSocket client does: refused, timed out, or listening. */
async function whyUnreachable(url: string): Promise<string | undefined> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return undefined;
  }
  const host = target.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(target.port || (target.protocol === "wss:" ? 443 : 80));
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 3000 });
    const done = (why: string) => {
      socket.destroy();
      resolve(why);
    };
    socket.once("connect", () =>
      done(`${host}:${port} accepts connections, but no Subtensor node answered over WebSocket there`),
    );
    socket.once("timeout", () => done(`${host}:${port} did not answer within 3 s`));
    socket.once("error", (error: NodeJS.ErrnoException) =>
      done(`cannot connect to ${host}:${port} (${error.code ?? error.message})`),
    );
  });
}

function permitCheck(metagraph: Metagraph, hotkey: string | undefined): DoctorCheck {
  const title = "validator permit";
  if (!hotkey) return skip("permit", title, "no hotkey was loaded");
  const neuron = metagraph.neurons.find((n) => n.hotkey === hotkey);
  if (!neuron)
    return fail(
      "permit",
      title,
      `${hotkey} is not registered on subnet ${metagraph.netuid}`,
      `register it (btcli subnet register --netuid ${metagraph.netuid}) and stake to it: weights of an unregistered hotkey are refused`,
    );
  if (!neuron.validatorPermit)
    return fail(
      "permit",
      title,
      `uid ${neuron.uid} has no validator permit on subnet ${metagraph.netuid}`,
      "stake to the hotkey until it is among the subnet's permitted validators (permits are given at epoch boundaries); until then its weights do not count",
    );
  const last =
    neuron.lastUpdate > 0
      ? `, last set weights at block ${neuron.lastUpdate} (${metagraph.blockNumber - neuron.lastUpdate} blocks ago)`
      : ", has never set weights";
  return ok("permit", title, `uid ${neuron.uid} holds a validator permit${last}`);
}

async function commitRevealCheck(
  client: ChainClient,
  metagraph: Metagraph,
  options: CheckChainOptions,
): Promise<DoctorCheck> {
  const title = "commit-reveal";
  if (!metagraph.commitRevealWeightsEnabled)
    return ok("commit-reveal", title, `off on subnet ${metagraph.netuid}: weights are set directly`);
  const version = client.api.query.subtensorModule?.commitRevealWeightsVersion;
  const crVersion = version ? Number((await version()).toString()) : undefined;
  const details = [`CommitRevealWeightsVersion ${crVersion ?? "unknown"}`];
  if (options.commitReveal === "hash")
    return warn(
      "commit-reveal",
      title,
      `on; weights.commitReveal is hash (commit_weights/reveal_weights)`,
      "finney's subnets reveal through drand timelocks (weights.commitReveal timelock); use hash only where the chain still accepts it",
      details,
    );
  const drand = client.api.query.drand;
  if (!drand?.beaconConfig || !drand.lastStoredRound)
    return fail(
      "commit-reveal",
      title,
      "on, but the chain has no Drand pallet: timelocked weights cannot be revealed",
      "set weights.commitReveal to hash, or use a chain with the Drand pallet",
      details,
    );
  const config = (await drand.beaconConfig()) as unknown as Codec & {
    publicKey: Codec;
    period: Codec;
    genesisTime: Codec;
  };
  const chainKey = u8aToHex(config.publicKey.toU8a(true));
  const configured = u8aToHex(options.drand.publicKey);
  if (chainKey !== configured)
    return fail(
      "commit-reveal",
      title,
      "the chain's Drand pallet follows another beacon than chain.drand.publicKey",
      `set chain.drand.publicKey to ${chainKey.replace(/^0x/, "")} (and chain.drand.genesisSeconds ${config.genesisTime.toString()}, periodSeconds ${config.period.toString()}): weights sealed to another beacon are never revealed`,
      details,
    );
  const last = Number((await drand.lastStoredRound()).toString());
  const expected = roundAt(options.drand, (options.nowMs ?? Date.now()) / 1000);
  details.push(`chain's latest pulse ${last}, beacon round now ${expected}`);
  if (expected - last > drandLagWarningRounds)
    return warn(
      "commit-reveal",
      title,
      `the chain's Drand pallet is ${expected - last} rounds behind the beacon`,
      "reveals wait for pulses: weights will land late until the chain catches up (or check chain.drand.genesisSeconds/periodSeconds)",
      details,
    );
  return ok("commit-reveal", title, "on: timelocked weights, the configured beacon is the chain's", details);
}
