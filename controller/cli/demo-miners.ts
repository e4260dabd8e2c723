import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Keyring } from "@polkadot/keyring";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import type { DevnetSeed } from "../../devnet/chain/devnet-seed.ts";

/** A miner of the demo: a dev account of the demo chain's subnet and what it submits. */
export interface DemoMiner {
  /** Dev URI of its hotkey, e.g. "//Bob". */
  uri: string;
  /** Wallet name in the demo's wallet folder. */
  name: string;
  /** What it stands for, for people reading the leaderboard. */
  role: string;
  /** Sim image name, or "copy-of-leader". */
  image: string;
}

/**
 * The demo's miners in commit order, which is also their uid order (1, 2, ...): the leader's
 * content is committed first (the earliest commit owns it), its relabelled copy last. "fast" (5%
 * faster than the baseline) is the runner-up, so the weights are 80/20; "slow" (5% slower) is
 * honest and measured but below the baseline, so it is not paid. //Grace is not one of the
 * chain's six well-known dev accounts, but it is derived the same way (the dev phrase with a
 * hard path), so it needs nothing but a seat in the demo's seed.
 */
export const demoMiners: readonly DemoMiner[] = [
  { uri: "//Bob", name: "bob", role: "honest, fast", image: "faster" },
  { uri: "//Charlie", name: "charlie", role: "honest, less fast", image: "fast" },
  { uri: "//Grace", name: "grace", role: "honest, slow", image: "slow" },
  { uri: "//Dave", name: "dave", role: "wrong model", image: "wrong-model" },
  { uri: "//Eve", name: "eve", role: "cache-cheating", image: "cache-cheating" },
  { uri: "//Ferdie", name: "ferdie", role: "copy of the leader", image: "copy-of-leader" },
];

/** The demo's subnet. */
export const demoNetuid = 1;
/** Dev URI of the demo's validator (uid 0, the only validator permit). */
export const demoValidatorUri = "//Alice";

/**
 * The demo chain's seed: subnet {@link demoNetuid} with the validator at uid 0 and the miners at
 * uids 1.. in {@link demoMiners} order, and a weights rate limit of 5 blocks (the chain's default
 * of 100 would make a demo wait minutes between two weight settings).
 */
export function demoSeed(): DevnetSeed {
  return {
    chainName: "Cacheon Demo",
    subnets: [
      {
        netuid: demoNetuid,
        tempo: 360,
        weightsVersionKey: 0,
        weightsSetRateLimit: 5,
        commitRevealWeightsEnabled: false,
        neurons: [
          { hotkey: demoValidatorUri, validatorPermit: true },
          ...demoMiners.map((m) => ({ hotkey: m.uri })),
        ],
      },
    ],
  };
}

/** Bittensor-layout hotkey files (unencrypted, as btcli writes them) for the validator and miners. */
export async function writeDemoWallets(folder: string): Promise<void> {
  await cryptoWaitReady();
  const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
  const accounts = [{ name: "validator", uri: demoValidatorUri }, ...demoMiners];
  for (const { name, uri } of accounts) {
    const hotkeys = join(folder, name, "hotkeys");
    mkdirSync(hotkeys, { recursive: true });
    const file = { secretPhrase: uri, ss58Address: keyring.addFromUri(uri).address };
    writeFileSync(join(hotkeys, "default"), JSON.stringify(file), { mode: 0o600 });
  }
}
