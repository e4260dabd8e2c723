import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseSeed, resolveHotkey } from "../../devnet/chain/devnet-seed.ts";
import { loadHotkey } from "../chain/wallet.ts";
import { demoMiners, demoNetuid, demoSeed, demoValidatorUri, writeDemoWallets } from "./demo-miners.ts";

const work = mkdtempSync(join(tmpdir(), "demo-miners-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the demo's miners and chain seed", () => {
  it("has one miner per role the issue names, the slow one below the baseline", () => {
    expect(demoMiners.map((m) => m.image)).toEqual([
      "faster",
      "fast",
      "slow",
      "wrong-model",
      "cache-cheating",
      "copy-of-leader",
    ]);
    expect(new Set(demoMiners.map((m) => m.name)).size).toBe(demoMiners.length);
  });

  it("seeds the validator at uid 0 and the miners at uids 1.. in commit order, as the devnet's parser accepts", async () => {
    const seed = parseSeed(JSON.stringify(demoSeed()), "demo seed");
    const subnet = seed.subnets[0];
    expect(seed.subnets.map((s) => s.netuid)).toEqual([demoNetuid]);
    expect(subnet?.neurons.map((n) => n.hotkey)).toEqual([demoValidatorUri, ...demoMiners.map((m) => m.uri)]);
    expect(subnet?.neurons.filter((n) => n.validatorPermit).map((n) => n.hotkey)).toEqual([demoValidatorUri]);
    expect(subnet?.weightsSetRateLimit).toBe(5);
    const addresses = await Promise.all(subnet?.neurons.map((n) => resolveHotkey(n.hotkey)) ?? []);
    expect(new Set(addresses).size).toBe(demoMiners.length + 1);
  });

  it("writes wallets the controller's and miners' hotkey loader accepts, one per account", async () => {
    await writeDemoWallets(join(work, "wallets"));
    for (const { name, uri } of [{ name: "validator", uri: demoValidatorUri }, ...demoMiners]) {
      const pair = await loadHotkey({ wallet: name, hotkey: "default", walletPath: join(work, "wallets") });
      expect(pair.address).toBe(await resolveHotkey(uri));
    }
  });

  it("a wallet the demo did not write is reported missing, not invented", async () => {
    await expect(
      loadHotkey({ wallet: "zoe", hotkey: "default", walletPath: join(work, "wallets") }),
    ).rejects.toThrow(/cannot read the hotkey file/);
  });
});
